/** Just enough of the protobuf wire format to count a repeated field without decoding it. */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/**
 * Reads forward through a message that arrived in pieces, without joining
 * them: a large list response is counted without a copy.
 */
class PiecesReader {
  readonly length: number;
  private piece = 0;
  private pieceStart = 0;

  constructor(private readonly pieces: readonly Buffer[]) {
    this.length = pieces.reduce((total, piece) => total + piece.length, 0);
  }

  /** The byte at `offset`; offsets must not go backwards between calls. */
  byteAt(offset: number): number {
    let current = this.pieces[this.piece];
    while (offset >= this.pieceStart + current.length) {
      this.pieceStart += current.length;
      current = this.pieces[++this.piece];
    }
    return current[offset - this.pieceStart];
  }
}

/** Reads a varint at `offset`; returns [value, next offset]. Values past 2^53 lose precision, which only lengths here could reach. */
function readVarint(buf: PiecesReader, offset: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  for (let pos = offset; pos < buf.length; pos++) {
    const byte = buf.byteAt(pos);
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return [value, pos + 1];
    multiplier *= 128;
    if (multiplier > 2 ** 63) break;
  }
  throw new RangeError(`malformed varint at byte ${offset}`);
}

/**
 * How many times top-level field `fieldNumber` occurs in a message given as
 * the pieces it arrived in (the length of a repeated message field).
 */
export function countFieldOccurrences(pieces: readonly Buffer[], fieldNumber: number): number {
  const message = new PiecesReader(pieces);
  let count = 0;
  let offset = 0;
  while (offset < message.length) {
    const [tag, afterTag] = readVarint(message, offset);
    const wireType = tag % 8;
    if (Math.floor(tag / 8) === fieldNumber) count++;
    switch (wireType) {
      case VARINT:
        offset = readVarint(message, afterTag)[1];
        break;
      case FIXED64:
        offset = afterTag + 8;
        break;
      case LENGTH_DELIMITED: {
        const [length, afterLength] = readVarint(message, afterTag);
        offset = afterLength + length;
        break;
      }
      case FIXED32:
        offset = afterTag + 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType} at byte ${offset}`);
    }
  }
  if (offset !== message.length) throw new RangeError('message ends inside a field');
  return count;
}
