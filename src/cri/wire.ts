/** Just enough of the protobuf wire format to count a repeated field without decoding it. */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A varint longer than this many bytes is malformed (a 64-bit value takes at most ten). */
const MAX_VARINT_BYTES = 10;

/**
 * Reads forward through a message that arrived in pieces, without joining
 * them: a large list response is counted without a copy, and reading
 * allocates nothing.
 */
class PiecesReader {
  readonly length: number;
  /** Where the next read starts, from the message's start; skipping may take it past the end. */
  offset = 0;
  private piece = 0;
  private pieceStart = 0;

  constructor(private readonly pieces: readonly Buffer[]) {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    this.length = length;
  }

  /** Reads a varint; values past 2^53 lose precision, which only lengths here could reach, and they would be past the end anyway. */
  varint(): number {
    const start = this.offset;
    let value = 0;
    let multiplier = 1;
    for (let read = 0; read < MAX_VARINT_BYTES && this.offset < this.length; read++) {
      const byte = this.byteAt(this.offset++);
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return value;
      multiplier *= 128;
    }
    throw new RangeError(`malformed varint at byte ${start}`);
  }

  skip(bytes: number): void {
    this.offset += bytes;
  }

  /** The byte at `offset`, which must be within the message and not before an earlier read. */
  private byteAt(offset: number): number {
    let current = this.pieces[this.piece];
    while (offset >= this.pieceStart + current.length) {
      this.pieceStart += current.length;
      current = this.pieces[++this.piece];
    }
    return current[offset - this.pieceStart];
  }
}

/**
 * How many times top-level field `fieldNumber` occurs in a message given as
 * the pieces it arrived in: for a repeated message field, the length of the
 * list. Only the tags and lengths are read; the items themselves are skipped.
 * Throws a RangeError on a message that is not protobuf or is cut short.
 */
export function countFieldOccurrences(pieces: readonly Buffer[], fieldNumber: number): number {
  const message = new PiecesReader(pieces);
  let count = 0;
  while (message.offset < message.length) {
    const tagOffset = message.offset;
    const tag = message.varint();
    if (Math.floor(tag / 8) === fieldNumber) count++;
    const wireType = tag % 8;
    switch (wireType) {
      case VARINT:
        message.varint();
        break;
      case FIXED64:
        message.skip(8);
        break;
      case LENGTH_DELIMITED:
        message.skip(message.varint());
        break;
      case FIXED32:
        message.skip(4);
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType} at byte ${tagOffset}`);
    }
  }
  if (message.offset !== message.length) throw new RangeError('message ends inside a field');
  return count;
}
