/**
 * The Huffman code of HPACK string literals (RFC 7541 §5.2, Appendix B).
 *
 * The code is canonical, so only the code lengths are written down here; the
 * codes, the decoding tree and the decoding table are derived from them once, at
 * module load, and the derivation checks that the lengths form a complete
 * prefix code (a typo in the table fails loudly instead of mis-decoding).
 *
 * Decoding is the hot path (every Huffman-coded string of every header block), so
 * it is a table-driven state machine that consumes a whole input octet per
 * lookup: a state is an internal node of the code tree, and each entry of
 * DECODE says which node the octet leads to and which symbols (at most two, as
 * no code is shorter than 5 bits) were completed on the way.
 */
import { HpackError } from './errors.js';

const EOS = 256;
const SYMBOLS = 257;

function chars(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Code length → the symbols coded with that many bits (RFC 7541 Appendix B). */
const CODE_LENGTHS: readonly (readonly [number, readonly number[]])[] = [
  [5, chars('012aceiost')],
  [6, chars(' %-./3456789=A_bdfghlmnpru')],
  [7, chars(':BCDEFGHIJKLMNOPQRSTUVWYjkqvwxyz')],
  [8, chars('&*,;XZ')],
  [10, chars('!"()?')],
  [11, chars("'+|")],
  [12, chars('#>')],
  [13, [0, ...chars('$@[]~')]],
  [14, chars('^}')],
  [15, chars('<`{')],
  [19, [...chars('\\'), 195, 208]],
  [20, [128, 130, 131, 162, 184, 194, 224, 226]],
  [21, [153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230]],
  [22, [129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233]],
  [23, [1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239]],
  [24, [9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237]],
  [25, [199, 207, 234, 235]],
  [26, [192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255]],
  [27, [203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254]],
  [28, [...range(2, 8), 11, 12, ...range(14, 21), ...range(23, 31), 127, 220, 249]],
  [30, [10, 13, 22, EOS]],
];

/** Code length of each symbol, indexed by symbol. */
const LENGTHS = new Uint8Array(SYMBOLS);
/** The code of each symbol, right-aligned (at most 30 bits, so it fits a small integer). */
const CODES = new Uint32Array(SYMBOLS);

{
  for (const [length, symbols] of CODE_LENGTHS) {
    for (const symbol of symbols) {
      if (symbol < 0 || symbol >= SYMBOLS || LENGTHS[symbol] !== 0) throw new Error(`Huffman table: symbol ${symbol} is out of range or listed twice`);
      LENGTHS[symbol] = length;
    }
  }
  const missing = LENGTHS.indexOf(0);
  if (missing !== -1) throw new Error(`Huffman table: symbol ${missing} has no code length`);
  // Kraft sum exactly 1, counted in units of 2^-30: the code is prefix-free and complete.
  let kraft = 0;
  for (let s = 0; s < SYMBOLS; s++) kraft += 2 ** (30 - (LENGTHS[s]));
  if (kraft !== 2 ** 30) throw new Error(`Huffman table: Kraft sum is ${kraft / 2 ** 30}, not 1`);

  // Canonical assignment: by increasing length, then increasing symbol.
  const order = range(0, EOS).sort((a, b) => (LENGTHS[a]) - (LENGTHS[b]) || a - b);
  let code = 0;
  let previousLength = LENGTHS[order[0]];
  for (const symbol of order) {
    const length = LENGTHS[symbol];
    code *= 2 ** (length - previousLength);
    previousLength = length;
    CODES[symbol] = code;
    code += 1;
  }
}

/** Internal nodes of the code tree; 257 leaves make 256 of them. Node 0 is the root. */
const NODES = SYMBOLS - 1;
/** Per node and bit: the child node, or a leaf as -(symbol + 1). */
const CHILD = [new Int32Array(NODES), new Int32Array(NODES)] as const;
/** Nodes where a string may end: the root, or up to 7 one-bits into a code (the EOS prefix). */
const ACCEPTING = new Uint8Array(NODES);

{
  let nodes = 1;
  for (let symbol = 0; symbol < SYMBOLS; symbol++) {
    const length = LENGTHS[symbol];
    const code = CODES[symbol];
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const children = CHILD[Math.floor(code / 2 ** i) & 1];
      const child = children[node];
      if (i === 0) {
        if (child !== 0) throw new Error(`Huffman table: code of symbol ${symbol} collides`);
        children[node] = -(symbol + 1);
      } else if (child === 0) {
        // 0 can mean "unset" because the root is nobody's child.
        if (nodes === NODES) throw new Error('Huffman table: more internal nodes than a complete code has');
        children[node] = nodes;
        node = nodes++;
      } else if (child < 0) {
        throw new Error(`Huffman table: code of symbol ${symbol} extends another code`);
      } else {
        node = child;
      }
    }
  }
  let node = 0;
  for (let depth = 0; depth <= 7; depth++) {
    ACCEPTING[node] = 1;
    node = CHILD[1][node];
  }
}

// DECODE entry layout: the next node, up to two completed symbols, their count,
// and a flag for "the EOS code was completed" (RFC 7541 §5.2: a decoding error).
const NEXT_MASK = 0xff;
const SYMBOL1_SHIFT = 8;
const SYMBOL2_SHIFT = 16;
const COUNT_SHIFT = 24;
const EOS_FLAG = 1 << 26;

/** (node << 8 | input octet) → packed transition. 256 KiB, built in a few milliseconds. */
const DECODE = buildDecodeTable();

function buildDecodeTable(): Uint32Array {
  const table = new Uint32Array(NODES * 256);
  // First per 4-bit nibble (at most one symbol fits in 4 bits), then octet = two nibbles.
  const nibbleNext = new Uint8Array(NODES * 16);
  const nibbleSymbol = new Int16Array(NODES * 16).fill(-1);
  const nibbleEos = new Uint8Array(NODES * 16);
  for (let state = 0; state < NODES; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      const at = state * 16 + nibble;
      let node = state;
      for (let bit = 3; bit >= 0; bit--) {
        const child = CHILD[(nibble >> bit) & 1][node];
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = -child - 1;
        if (symbol === EOS) {
          nibbleEos[at] = 1;
          break;
        }
        nibbleSymbol[at] = symbol;
        node = 0;
      }
      nibbleNext[at] = node;
    }
  }
  for (let state = 0; state < NODES; state++) {
    for (let octet = 0; octet < 256; octet++) {
      const high = state * 16 + (octet >> 4);
      const middle = nibbleNext[high];
      const low = middle * 16 + (octet & 15);
      const first = nibbleSymbol[high];
      const second = nibbleSymbol[low];
      let entry = nibbleNext[low];
      if (first >= 0 && second >= 0) entry |= (first << SYMBOL1_SHIFT) | (second << SYMBOL2_SHIFT) | (2 << COUNT_SHIFT);
      else if (first >= 0 || second >= 0) entry |= (Math.max(first, second) << SYMBOL1_SHIFT) | (1 << COUNT_SHIFT);
      if (nibbleEos[high] || nibbleEos[low]) entry |= EOS_FLAG;
      table[state * 256 + octet] = entry >>> 0;
    }
  }
  return table;
}

/**
 * Reused output area: decoded strings are copied out of it, so one per module
 * suffices. It never grows: a longer string gets an area of its own that goes
 * with it, so one huge header does not pin its size for the process's life.
 */
const SCRATCH_BYTES = 4096;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/** Octets of the reused output area, for tests: it stays at its default whatever was decoded. */
export function huffmanScratchCapacity(): number {
  return scratch.length;
}

/**
 * Decodes src[start, end) as a Huffman-coded string and returns its octets as a
 * latin1 string (one char per octet, so any octet round-trips). Throws HpackError
 * on an EOS symbol in the input or on padding that is longer than 7 bits or not
 * all ones; offsets in errors are indexes into src.
 */
export function huffmanDecode(src: Uint8Array, start = 0, end: number = src.length): string {
  // No code is shorter than 5 bits, which bounds the output length.
  const most = Math.floor(((end - start) * 8) / 5);
  const out = most <= SCRATCH_BYTES ? scratch : Buffer.allocUnsafe(most);
  let length = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const entry = DECODE[(state << 8) | (src[i])];
    if ((entry & EOS_FLAG) !== 0) throw new HpackError('EOS symbol inside a Huffman-coded string', i);
    const count = (entry >>> COUNT_SHIFT) & 3;
    if (count !== 0) {
      out[length++] = (entry >>> SYMBOL1_SHIFT) & 0xff;
      if (count === 2) out[length++] = (entry >>> SYMBOL2_SHIFT) & 0xff;
    }
    state = entry & NEXT_MASK;
  }
  if (ACCEPTING[state] === 0) throw new HpackError('invalid Huffman padding (longer than 7 bits or not all ones)', end - 1);
  return out.toString('latin1', 0, length);
}

/** Octets huffmanEncode(bytes) would produce. */
export function huffmanEncodedLength(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) bits += LENGTHS[byte];
  return Math.ceil(bits / 8);
}

/** Huffman-codes bytes, padding the last octet with the high bits of EOS (ones). */
export function huffmanEncode(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(bytes));
  let at = 0;
  // Pending bits stay below 8 + 30, well inside a double's exact integer range.
  let pending = 0;
  let pendingBits = 0;
  for (const byte of bytes) {
    const length = LENGTHS[byte];
    pending = pending * 2 ** length + (CODES[byte]);
    pendingBits += length;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      const scale = 2 ** pendingBits;
      const octet = Math.floor(pending / scale);
      out[at++] = octet;
      pending -= octet * scale;
    }
  }
  if (pendingBits > 0) out[at++] = (pending << (8 - pendingBits)) | (0xff >> pendingBits);
  return out;
}
