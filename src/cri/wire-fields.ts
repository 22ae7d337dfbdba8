/**
 * Reads the fields of an encoded protobuf message as they lie on the wire,
 * without interpreting them: where each starts and ends, its number and wire
 * type. Policy walks every judged request this way (repeated-messages.ts), so
 * the reader is a cursor that allocates nothing per field.
 */

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
export const FIXED32 = 5;

const MAX_VARINT_BYTES = 10;
/** protobufjs's own limit: a message with deeper groups is one criscope cannot decode anyway. */
const MAX_GROUP_DEPTH = 100;

/** Where one field sits in a message; offsets count from the start of the outermost message. */
export interface FieldSpan {
  readonly number: number;
  readonly wireType: number;
  /** Offset of the tag. */
  readonly start: number;
  /** Offset just past the tag, where a length-delimited field's length prefix starts. */
  readonly afterTag: number;
  /** Offset of the value itself, past any length prefix. */
  readonly valueStart: number;
  readonly end: number;
}

/**
 * The fields of the message in `bytes[start, end)`, one after another:
 * each next() that returns true leaves the field's span in the reader's
 * properties. Unknown groups are skipped whole, as Go keeps them. Throws a
 * RangeError on malformed bytes: a varint past ten bytes or 64 bits, a field
 * running past the message's end, field number 0, an invalid wire type, an
 * unbalanced group.
 */
export class FieldReader implements FieldSpan {
  number = 0;
  wireType = 0;
  start = 0;
  afterTag = 0;
  valueStart = 0;
  end = 0;
  /** Where the last varint read ended. */
  private varintEnd = 0;

  constructor(
    private bytes: Uint8Array,
    private offset: number,
    private limit: number,
    private readonly groupDepth = 0,
  ) {}

  /** Starts over on the message in `bytes[start, end)`: a walk that reads many messages reuses one reader per level. */
  reset(bytes: Uint8Array, start: number, end: number): this {
    this.bytes = bytes;
    this.offset = start;
    this.limit = end;
    return this;
  }

  /** Reads the next field; false once the message has no more. */
  next(): boolean {
    if (this.offset >= this.limit) return false;
    this.readField();
    if (this.wireType === END_GROUP) throw new RangeError(`end-group tag outside a group at byte ${this.start}`);
    this.offset = this.end;
    return true;
  }

  /** Reads the field at the offset, an end-group tag included (as a field with nothing after its tag). */
  private readField(): void {
    const offset = this.offset;
    const tag = this.varint(offset);
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (number === 0) throw new RangeError(`field number 0 at byte ${offset}`);
    const afterTag = this.varintEnd;
    let valueStart = afterTag;
    let end: number;
    switch (wireType) {
      case VARINT:
        this.varint(afterTag);
        end = this.varintEnd;
        break;
      case FIXED64:
        end = afterTag + 8;
        break;
      case LENGTH_DELIMITED: {
        const length = this.varint(afterTag);
        valueStart = this.varintEnd;
        end = valueStart + length;
        break;
      }
      case START_GROUP:
        end = this.skipGroup(afterTag, number);
        break;
      case END_GROUP:
        end = afterTag;
        break;
      case FIXED32:
        end = afterTag + 4;
        break;
      default:
        throw new RangeError(`invalid wire type ${wireType} at byte ${offset}`);
    }
    if (end > this.limit) throw new RangeError(`field ${number} at byte ${offset} runs past the end of its message`);
    this.number = number;
    this.wireType = wireType;
    this.start = offset;
    this.afterTag = afterTag;
    this.valueStart = valueStart;
    this.end = end;
  }

  /** The offset just past the end-group tag that closes group `number`, whose fields start at `from`. */
  private skipGroup(from: number, number: number): number {
    const depth = this.groupDepth + 1;
    if (depth > MAX_GROUP_DEPTH) throw new RangeError(`groups nest deeper than ${MAX_GROUP_DEPTH} levels at byte ${from}`);
    const inner = new FieldReader(this.bytes, from, this.limit, depth);
    while (inner.offset < this.limit) {
      inner.readField();
      if (inner.wireType === END_GROUP) {
        if (inner.number !== number) throw new RangeError(`group ${number} closed by an end-group tag for field ${inner.number} at byte ${inner.start}`);
        return inner.end;
      }
      inner.offset = inner.end;
    }
    throw new RangeError(`group ${number} starting at byte ${from} has no end-group tag`);
  }

  /**
   * The varint at `offset`; where it ends goes to varintEnd. Values past 2^53
   * lose precision, which only skipped values can reach. Like Go, refuses
   * more than 64 bits.
   */
  private varint(offset: number): number {
    const bytes = this.bytes;
    let value = 0;
    let multiplier = 1;
    for (let pos = offset; pos < this.limit; pos++) {
      const byte = bytes[pos];
      const last = pos - offset === MAX_VARINT_BYTES - 1;
      if (last && byte > 1) break;
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        this.varintEnd = pos + 1;
        return value;
      }
      if (last) break;
      multiplier *= 128;
    }
    throw new RangeError(`malformed varint at byte ${offset}`);
  }
}

/** The fields of the message in `bytes[start, end)`, in wire order, each as a span of its own. */
export function readFields(bytes: Uint8Array, start = 0, end = bytes.length): FieldSpan[] {
  const fields: FieldSpan[] = [];
  const reader = new FieldReader(bytes, start, end);
  while (reader.next()) {
    const { number, wireType, start: at, afterTag, valueStart, end: fieldEnd } = reader;
    fields.push({ number, wireType, start: at, afterTag, valueStart, end: fieldEnd });
  }
  return fields;
}
