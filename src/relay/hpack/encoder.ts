/**
 * Encodes what the relay writes into a connection whose HPACK state belongs
 * to the two peers: the header blocks of criscope's own answers (a
 * trailers-only gRPC error), and the field a re-parented request carries
 * instead of the client's. Every field criscope writes is a literal that
 * changes no dynamic table the peers did not agree on: "without indexing"
 * (RFC 7541 §6.2.2), or the client's own representation with another value of
 * the same length.
 * No Huffman: on a unix socket the few bytes it would save cost more CPU than
 * they are worth.
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

/**
 * The same, for a flat list [name, value, name, value, …]: every field a
 * literal with a new name, without indexing.
 */
export function encodeHeaderList(fields: readonly string[]): Buffer {
  let length = 0;
  for (const field of fields) length += stringLength(field);
  const out = Buffer.allocUnsafe(length + fields.length / 2);
  let at = 0;
  for (let index = 0; index < fields.length; index += 2) {
    // 0000 0000: without indexing, name index 0 (a new name follows).
    out[at++] = 0x00;
    at = writeString(out, at, fields[index]);
    at = writeString(out, at, fields[index + 1]);
  }
  return out;
}

/** Octets `value` takes as a raw string literal (§5.2). */
function stringLength(value: string): number {
  if (NOT_LATIN1.test(value)) throw new RangeError(`header field ${JSON.stringify(value.slice(0, 40))} has a char outside latin1`);
  return integerLength(value.length, 0x7f) + value.length;
}

function writeString(out: Buffer, at: number, value: string): number {
  const start = writeInteger(out, at, value.length, 0x7f, 0x00);
  return start + out.write(value, start, 'latin1');
}

/** The octets of a literal without indexing (§6.2.2) up to its value, its name being the entry at `nameIndex`. */
export function withoutIndexingHead(nameIndex: number): Buffer {
  const head = Buffer.allocUnsafe(integerLength(nameIndex, 0x0f));
  writeInteger(head, 0, nameIndex, 0x0f, 0x00);
  return head;
}

/** Octets `head` (a literal's type bits and name, as written) followed by `value` as a raw string take. */
export function literalLength(head: Buffer, value: string): number {
  return head.length + integerLength(value.length, 0x7f) + value.length;
}

/**
 * Writes `head`, then `value` as a raw string literal, at `at`: the same
 * representation with another value. Returns where it ended. A char above
 * U+00FF throws a RangeError.
 */
export function writeLiteral(out: Buffer, at: number, head: Buffer, value: string): number {
  let end = at + head.copy(out, at);
  end = writeInteger(out, end, value.length, 0x7f, 0x00);
  // Char by char: header values are short, and a call into Buffer.write costs more.
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code > 0xff) throw new RangeError(`header field ${JSON.stringify(value.slice(0, 40))} has a char outside latin1`);
    out[end++] = code;
  }
  return end;
}
