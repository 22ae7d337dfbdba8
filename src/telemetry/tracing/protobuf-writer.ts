/** Wire types of the protobuf encoding. */
export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

/** A field's tag octet, for field numbers up to 15 (all but Span.flags, field 16). */
export function tag(field: number, wireType: WireType): number {
  return (field << 3) | wireType;
}

const TWO_TO_32 = 4294967296;

/** A hex digit's value from its char code ('0'-'9', 'a'-'f'). */
function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}
const INITIAL_BYTES = 64 * 1024;

/** Octets of `value` as a varint. */
export function varintLength(value: number): number {
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

/**
 * Appends protobuf fields to one growing buffer: the few wire forms an OTLP
 * span needs, written straight from their values, with no message objects
 * in between. A nested message is written in place and its length prefix
 * fixed up when it ends (beginNested / endNested).
 */
export class ProtobufWriter {
  private buffer: Buffer;
  private at = 0;

  constructor(initialBytes = INITIAL_BYTES) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.at;
  }

  /** What was written, as a view: valid until the writer writes again. */
  written(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  /** Drops everything from `length` on (to undo a message that could not be finished). */
  truncate(length: number): void {
    this.at = length;
  }

  raw(bytes: Buffer): void {
    const length = bytes.length;
    this.reserve(length);
    if (length > 64) {
      this.at += bytes.copy(this.buffer, this.at);
      return;
    }
    // An attribute's key and the like: byte by byte costs less than a call into Buffer.copy.
    const buffer = this.buffer;
    const at = this.at;
    for (let index = 0; index < length; index++) buffer[at + index] = bytes[index];
    this.at = at + length;
  }

  octet(value: number): void {
    this.reserve(1);
    this.buffer[this.at++] = value;
  }

  /** A non-negative integer below 2^53 as a varint. */
  varint(value: number): void {
    this.reserve(10);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.at++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.at++] = rest;
  }

  /** A signed integer (int64) as a varint: a negative one takes ten octets, two's complement. */
  int64(value: number): void {
    if (value >= 0) {
      this.varint(value);
      return;
    }
    this.reserve(10);
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      this.buffer[this.at++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.buffer[this.at++] = Number(rest);
  }

  fixed32(value: number): void {
    this.reserve(4);
    this.at = this.buffer.writeUInt32LE(value >>> 0, this.at);
  }

  double(value: number): void {
    this.reserve(8);
    this.at = this.buffer.writeDoubleLE(value, this.at);
  }

  /**
   * A time as fixed64 nanoseconds since the epoch, from whole seconds and
   * nanoseconds: exact, where seconds × 1e9 as a double would not be.
   */
  nanoseconds(seconds: number, nanos: number): void {
    const secondsHigh = Math.floor(seconds / 65536);
    const secondsLow = seconds % 65536;
    const scaledHigh = secondsHigh * 1e9;
    const low = (scaledHigh % 65536) * 65536 + secondsLow * 1e9 + nanos;
    const carry = Math.floor(low / TWO_TO_32);
    this.reserve(8);
    this.buffer.writeUInt32LE(low - carry * TWO_TO_32, this.at);
    this.buffer.writeUInt32LE(Math.floor(scaledHigh / 65536) + carry, this.at + 4);
    this.at += 8;
  }

  /** A length-delimited UTF-8 string field. */
  string(fieldTag: number, value: string): void {
    const length = value.length;
    if (length < 0x80) {
      // Most of a span's strings are short ASCII: copied char by char, cheaper than a call into Buffer.write.
      this.reserve(2 + length);
      const buffer = this.buffer;
      const at = this.at + 2;
      let index = 0;
      while (index < length) {
        const code = value.charCodeAt(index);
        if (code >= 0x80) break;
        buffer[at + index] = code;
        index++;
      }
      if (index === length) {
        buffer[this.at] = fieldTag;
        buffer[this.at + 1] = length;
        this.at = at + length;
        return;
      }
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    this.octet(fieldTag);
    this.varint(bytes);
    this.reserve(bytes);
    this.at += this.buffer.write(value, this.at, 'utf8');
  }

  /** A length-delimited bytes field from lowercase hex (a trace or span id, already checked). */
  hexBytes(fieldTag: number, hex: string): void {
    const length = hex.length >>> 1;
    this.reserve(2 + length);
    const buffer = this.buffer;
    buffer[this.at] = fieldTag;
    buffer[this.at + 1] = length;
    const at = this.at + 2;
    for (let index = 0; index < length; index++) buffer[at + index] = (hexValue(hex.charCodeAt(2 * index)) << 4) | hexValue(hex.charCodeAt(2 * index + 1));
    this.at = at + length;
  }

  /** Starts a nested message field; returns where, for endNested. A one-octet length is assumed and fixed up if longer. */
  beginNested(fieldTag: number): number {
    this.reserve(2);
    this.buffer[this.at] = fieldTag;
    this.at += 2;
    return this.at;
  }

  endNested(start: number): void {
    const length = this.at - start;
    if (length < 0x80) {
      this.buffer[start - 1] = length;
      return;
    }
    const extra = varintLength(length) - 1;
    this.reserve(extra);
    this.buffer.copyWithin(start + extra, start, this.at);
    this.at = start - 1;
    this.varint(length);
    this.at += length;
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.at + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}
