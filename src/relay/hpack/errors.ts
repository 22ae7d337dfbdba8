/**
 * A header block that cannot be decoded. For the connection this is an HTTP/2
 * COMPRESSION_ERROR (RFC 7540 §4.3): the peers' HPACK state can no longer be
 * followed, so the whole connection is lost, not just the stream.
 */
export class HpackError extends Error {
  override readonly name: string = 'HpackError';

  constructor(
    /** What was wrong, without the offset (the message carries both). */
    readonly problem: string,
    /** Octet offset into the header block (or Huffman input) where it was found. */
    readonly offset: number,
  ) {
    super(`HPACK: ${problem} at byte ${offset}`);
  }
}
