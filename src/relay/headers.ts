import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

/**
 * The headers to send on, exactly as received. Node joins a repeated header into
 * one comma-separated value, which would change metadata (and break `-bin`
 * values), so when any name repeats the object is rebuilt from the raw list,
 * one array entry per field. The common case reuses Node's object as is.
 */
export function headersToForward(headers: IncomingHttpHeaders, rawHeaders: readonly string[]): OutgoingHttpHeaders {
  if (Object.keys(headers).length * 2 === rawHeaders.length) return headers;
  const rebuilt: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string;
    const value = rawHeaders[index + 1] as string;
    const previous = rebuilt[name];
    if (previous === undefined) rebuilt[name] = value;
    else if (typeof previous === 'string') rebuilt[name] = [previous, value];
    else previous.push(value);
  }
  return rebuilt;
}

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
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}
