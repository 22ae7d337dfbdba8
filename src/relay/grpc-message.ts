/** Percent-encodes a grpc-message as the gRPC HTTP/2 protocol asks (printable ASCII except '%' passes). */
export function encodeGrpcMessage(message: string): string {
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** The readable form of a received grpc-message. */
export function decodeGrpcMessage(encoded: string): string {
  // Most messages ("OK", which grpc-js sends on every success) have nothing escaped.
  if (!encoded.includes('%')) return encoded;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}
