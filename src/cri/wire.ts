/** Just enough of the protobuf wire format to count a repeated field without decoding it. */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A varint longer than this many bytes is malformed (a 64-bit value takes at most ten). */
const MAX_VARINT_BYTES = 10;

const enum Reading {
  Tag,
  VarintField,
  Length,
  Skip,
}

/**
 * Counts the occurrences of one top-level field of a protobuf message as the
 * message goes by, in pieces cut anywhere: for a repeated message field, the
 * length of the list. Only tags and lengths are read; everything else is
 * skipped and nothing is kept, so a list response of any size is counted
 * while it is relayed, without a copy.
 */
export class FieldCounter {
  private count = 0;
  /** Bytes of the message before the piece being read. */
  private seen = 0;
  private reading = Reading.Tag;
  private varint = 0;
  private multiplier = 1;
  private varintBytes = 0;
  private varintStart = 0;
  private skipping = 0;
  private failure: RangeError | undefined;

  constructor(readonly fieldNumber: number) {}

  push(piece: Buffer): void {
    const end = piece.length;
    let at = 0;
    while (at < end && this.failure === undefined) {
      if (this.reading === Reading.Skip) {
        const take = Math.min(this.skipping, end - at);
        at += take;
        this.skipping -= take;
        if (this.skipping === 0) this.reading = Reading.Tag;
        continue;
      }
      const byte = piece[at];
      if (this.varintBytes === 0) this.varintStart = this.seen + at;
      at++;
      this.varint += (byte & 0x7f) * this.multiplier;
      this.varintBytes++;
      if (byte < 0x80) this.varintRead();
      else if (this.varintBytes === MAX_VARINT_BYTES) this.failure = new RangeError(`malformed varint at byte ${this.varintStart}`);
      else this.multiplier *= 128;
    }
    this.seen += end;
  }

  /** The count, once the whole message has gone by; a RangeError when it is not protobuf or ends inside a field. */
  total(): number {
    if (this.failure !== undefined) throw this.failure;
    if (this.varintBytes > 0) throw new RangeError(`malformed varint at byte ${this.varintStart}`);
    if (this.reading === Reading.VarintField || this.reading === Reading.Length) throw new RangeError(`malformed varint at byte ${this.seen}`);
    if (this.reading === Reading.Skip) throw new RangeError('message ends inside a field');
    return this.count;
  }

  /** Values past 2^53 lose precision, which only lengths could reach, and such a length runs past the message's end anyway. */
  private varintRead(): void {
    const value = this.varint;
    this.varint = 0;
    this.multiplier = 1;
    this.varintBytes = 0;
    switch (this.reading) {
      case Reading.Tag:
        this.tagRead(value);
        break;
      case Reading.VarintField:
        this.reading = Reading.Tag;
        break;
      case Reading.Length:
        this.skip(value);
        break;
    }
  }

  private tagRead(tag: number): void {
    if (Math.floor(tag / 8) === this.fieldNumber) this.count++;
    const wireType = tag % 8;
    switch (wireType) {
      case VARINT:
        this.reading = Reading.VarintField;
        break;
      case FIXED64:
        this.skip(8);
        break;
      case LENGTH_DELIMITED:
        this.reading = Reading.Length;
        break;
      case FIXED32:
        this.skip(4);
        break;
      default:
        this.failure = new RangeError(`unsupported wire type ${wireType} at byte ${this.varintStart}`);
    }
  }

  private skip(bytes: number): void {
    this.skipping = bytes;
    this.reading = bytes === 0 ? Reading.Tag : Reading.Skip;
  }
}

/**
 * How many times top-level field `fieldNumber` occurs in a message given as
 * the pieces it arrived in (see FieldCounter). Throws a RangeError on a
 * message that is not protobuf or is cut short.
 */
export function countFieldOccurrences(pieces: readonly Buffer[], fieldNumber: number): number {
  const counter = new FieldCounter(fieldNumber);
  for (const piece of pieces) counter.push(piece);
  return counter.total();
}
