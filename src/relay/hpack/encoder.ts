/**
 * Encodes header blocks the relay writes into a connection whose HPACK state
 * belongs to the two peers: a trailers-only gRPC error it injects, or a
 * request block it re-parents. Every field is a literal with a new name and
 * raw strings, "without indexing" (RFC 7541 §6.2.2) or, for a field the client
 * sent so, "never indexed" (§6.2.3): it neither reads nor changes the peer's
 * dynamic table, so the connection's encoder and decoder stay in step
 * whatever the relay adds.
 * No Huffman either: on a unix socket the few bytes it would save cost more
 * CPU than they are worth.
 */

/** Octets an integer with an N-bit prefix takes (§5.1). */
function integerLength(value: number, prefixMask: number): number {
  if (value < prefixMask) return 1;
  let length = 2;
  for (let rest = value - prefixMask; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

function writeInteger(out: Buffer, at: number, value: number, prefixMask: number, firstBits: number): number {
  if (value < prefixMask) {
    out[at++] = firstBits | value;
    return at;
  }
  out[at++] = firstBits | prefixMask;
  let rest = value - prefixMask;
  while (rest >= 0x80) {
    out[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[at++] = rest;
  return at;
}

/** Chars a latin1 string cannot hold: they would be silently truncated to their low octet. */
const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/**
 * The header block for `fields` in order. Names and values are taken as latin1
 * (one octet per char, matching HpackDecoder and node:http2); a char above
 * U+00FF is a programming error and throws a RangeError. HTTP/2 rules on top of
 * HPACK (lowercase names, pseudo-headers first) are the caller's business.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  return encodeHeaderList(fields.flat());
}

/** First octet of a literal with a new name: without indexing, or never indexed. */
const WITHOUT_INDEXING = 0x00;
const NEVER_INDEXED = 0x10;
const NONE: readonly number[] = Object.freeze([]);

/**
 * The same, for a flat list [name, value, name, value, …] as HpackDecoder
 * returns it. `neverIndexed` holds the indexes of the names of the fields to
 * write as never indexed (HpackDecoder.neverIndexedFields): an intermediary
 * must keep that representation (§6.2.3).
 */
export function encodeHeaderList(fields: readonly string[], neverIndexed: readonly number[] = NONE): Buffer {
  let length = 0;
  for (const field of fields) {
    if (NOT_LATIN1.test(field)) throw new RangeError(`header field ${JSON.stringify(field.slice(0, 40))} has a char outside latin1`);
    length += integerLength(field.length, 0x7f) + field.length;
  }
  const out = Buffer.allocUnsafe(length + fields.length / 2);
  let at = 0;
  for (let index = 0; index < fields.length; index += 2) {
    const name = fields[index];
    const value = fields[index + 1];
    // Name index 0: a new name follows.
    out[at++] = neverIndexed.length !== 0 && neverIndexed.includes(index) ? NEVER_INDEXED : WITHOUT_INDEXING;
    at = writeInteger(out, at, name.length, 0x7f, 0x00);
    at += out.write(name, at, 'latin1');
    at = writeInteger(out, at, value.length, 0x7f, 0x00);
    at += out.write(value, at, 'latin1');
  }
  return out;
}
