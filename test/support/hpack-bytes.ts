/** HPACK (RFC 7541) representations built by hand, for tests that need a peer's exact bytes. */

/** First octet of a literal field with a new name (§6.2): how the decoder is to treat its table. */
export const Literal = {
  WITH_INDEXING: 0x40,
  WITHOUT_INDEXING: 0x00,
  NEVER_INDEXED: 0x10,
} as const;

/** Prefix masks of each literal kind's name index (§6.2.1: 6 bits, §6.2.2 and §6.2.3: 4 bits). */
const NAME_INDEX_PREFIX: Readonly<Record<number, number>> = { 0x40: 0x3f, 0x00: 0x0f, 0x10: 0x0f };

/** An integer with the prefix `prefixMask` (2^N - 1) under `firstBits` (§5.1). */
export function hpackInteger(value: number, prefixMask: number, firstBits: number): Buffer {
  if (value < prefixMask) return Buffer.from([firstBits | value]);
  const octets = [firstBits | prefixMask];
  let rest = value - prefixMask;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) octets.push(0x80 | (rest % 0x80));
  octets.push(rest);
  return Buffer.from(octets);
}

/** A raw (not Huffman-coded) string literal (§5.2). */
export function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 0x7f, 0x00), bytes]);
}

/** An indexed field (§6.1): an entry of the static table (1–61) or the dynamic one (62 up, newest first). */
export function indexedField(index: number): Buffer {
  return hpackInteger(index, 0x7f, 0x80);
}

/** A literal field with a new name. */
export function literalField(kind: number, name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([kind]), hpackString(name), hpackString(value)]);
}

/** A literal field whose name is a table entry. */
export function literalFieldIndexedName(kind: number, nameIndex: number, value: string): Buffer {
  return Buffer.concat([hpackInteger(nameIndex, NAME_INDEX_PREFIX[kind], kind), hpackString(value)]);
}

/** A dynamic table size update (§6.3). */
export function tableSizeUpdate(size: number): Buffer {
  return hpackInteger(size, 0x1f, 0x20);
}
