/** Just enough of the protobuf wire format to count a repeated field without decoding it. */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** Reads a varint at `offset`; returns [value, next offset]. Values past 2^53 lose precision, which only lengths here could reach. */
function readVarint(buf: Buffer, offset: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  for (let pos = offset; pos < buf.length; pos++) {
    const byte = buf[pos] as number;
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return [value, pos + 1];
    multiplier *= 128;
    if (multiplier > 2 ** 63) break;
  }
  throw new RangeError(`malformed varint at byte ${offset}`);
}

/** How many times top-level field `fieldNumber` occurs in `message` (the length of a repeated message field). */
export function countFieldOccurrences(message: Buffer, fieldNumber: number): number {
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
