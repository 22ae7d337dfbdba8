/**
 * Rewrites one varint field deep inside an encoded protobuf message and copies
 * every other byte as it came, unknown fields included: a clamped request
 * differs from what the kubelet sent only in the value the policy changed.
 */
import protobuf from 'protobufjs';

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
export const FIXED32 = 5;

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const MAX_VARINT_BYTES = 10;
/** protobufjs's own limit: a message with deeper groups is one criscope cannot decode anyway. */
const MAX_GROUP_DEPTH = 100;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const EMPTY = new Uint8Array(0);

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
 * The fields of the message in `bytes[start, end)`, in wire order, without
 * interpreting them. Unknown groups are skipped whole, as Go keeps them.
 */
export function readFields(bytes: Uint8Array, start = 0, end = bytes.length): FieldSpan[] {
  const fields: FieldSpan[] = [];
  for (let offset = start; offset < end; ) {
    const field = readField(bytes, offset, end, 0);
    if (field.wireType === END_GROUP) throw new RangeError(`end-group tag outside a group at byte ${offset}`);
    fields.push(field);
    offset = field.end;
  }
  return fields;
}

/**
 * A copy of `message` with int64 field `field` set to `value` inside the
 * embedded message reached through the message fields numbered `path`.
 * Follows the last occurrence at each level and rewrites the last occurrence
 * of the field, which is what the runtime's merge of repeated occurrences
 * ends up reading; whatever is missing is appended to its parent. Throws a
 * RangeError on malformed bytes or a field on the way with another wire type.
 */
export function setVarintField(message: Uint8Array, path: readonly number[], field: number, value: bigint | number): Buffer {
  for (const number of [...path, field]) {
    if (!Number.isInteger(number) || number < 1 || number > MAX_FIELD_NUMBER) throw new RangeError(`invalid field number ${number}`);
  }
  return Buffer.concat(edit(message, 0, message.length, path, field, encodeInt64(value)));
}

/**
 * The field numbers of a dotted path of singular message fields written as in
 * the .proto, e.g. 'config.linux.resources' in CreateContainerRequest → [2, 15, 1].
 */
export function fieldNumbers(type: protobuf.Type, dottedPath: string): number[] {
  const numbers: number[] = [];
  let current = type;
  for (const name of dottedPath.split('.')) {
    const field = current.fieldsArray.find((candidate) => candidate.name === name);
    if (field === undefined) throw new Error(`${current.fullName} has no field "${name}"`);
    const child = field.resolve().resolvedType;
    if (field.repeated || field.map || !(child instanceof protobuf.Type)) {
      throw new Error(`${current.fullName}.${name} is not a singular message field`);
    }
    numbers.push(field.id);
    current = child;
  }
  return numbers;
}

/** The message in `message[start, end)` with the edit made, as chunks: only the ones on the path are new. */
function edit(message: Uint8Array, start: number, end: number, path: readonly number[], field: number, value: Uint8Array): Uint8Array[] {
  const [head, ...rest] = path;
  const target = head ?? field;
  const last = readFields(message, start, end)
    .filter((candidate) => candidate.number === target)
    .at(-1);
  if (head === undefined) {
    if (last === undefined) return [message.subarray(start, end), encodeTag(field, VARINT), value];
    expectWireType(last, VARINT);
    return [message.subarray(start, last.valueStart), value, message.subarray(last.end, end)];
  }
  if (last === undefined) {
    const inner = edit(EMPTY, 0, 0, rest, field, value);
    return [message.subarray(start, end), encodeTag(head, LENGTH_DELIMITED), encodeLength(inner), ...inner];
  }
  expectWireType(last, LENGTH_DELIMITED);
  const inner = edit(message, last.valueStart, last.end, rest, field, value);
  return [message.subarray(start, last.afterTag), encodeLength(inner), ...inner, message.subarray(last.end, end)];
}

function expectWireType(field: FieldSpan, wireType: number): void {
  if (field.wireType !== wireType) {
    throw new RangeError(`field ${field.number} at byte ${field.start} has wire type ${field.wireType}, expected ${wireType}`);
  }
}

/** Reads the field whose tag is at `offset`; an end-group tag comes back as a field with nothing after it. */
function readField(bytes: Uint8Array, offset: number, limit: number, groupDepth: number): FieldSpan {
  const [tag, afterTag] = readVarint(bytes, offset, limit);
  const number = Math.floor(tag / 8);
  const wireType = tag % 8;
  if (number === 0) throw new RangeError(`field number 0 at byte ${offset}`);
  let valueStart = afterTag;
  let end: number;
  switch (wireType) {
    case VARINT:
      end = readVarint(bytes, afterTag, limit)[1];
      break;
    case FIXED64:
      end = afterTag + 8;
      break;
    case LENGTH_DELIMITED: {
      let length: number;
      [length, valueStart] = readVarint(bytes, afterTag, limit);
      end = valueStart + length;
      break;
    }
    case START_GROUP:
      end = skipGroup(bytes, afterTag, limit, number, groupDepth + 1);
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
  if (end > limit) throw new RangeError(`field ${number} at byte ${offset} runs past the end of its message`);
  return { number, wireType, start: offset, afterTag, valueStart, end };
}

/** The offset just past the end-group tag that closes group `number`, whose fields start at `offset`. */
function skipGroup(bytes: Uint8Array, offset: number, limit: number, number: number, depth: number): number {
  if (depth > MAX_GROUP_DEPTH) throw new RangeError(`groups nest deeper than ${MAX_GROUP_DEPTH} levels at byte ${offset}`);
  for (let next = offset; next < limit; ) {
    const field = readField(bytes, next, limit, depth);
    if (field.wireType === END_GROUP) {
      if (field.number !== number) throw new RangeError(`group ${number} closed by an end-group tag for field ${field.number} at byte ${next}`);
      return field.end;
    }
    next = field.end;
  }
  throw new RangeError(`group ${number} starting at byte ${offset} has no end-group tag`);
}

/**
 * Reads a varint at `offset`; returns [value, next offset]. Values past 2^53
 * lose precision, which only skipped values can reach. Like Go, refuses more
 * than 64 bits.
 */
function readVarint(bytes: Uint8Array, offset: number, limit: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  for (let pos = offset; pos < limit; pos++) {
    const byte = bytes[pos];
    const last = pos - offset === MAX_VARINT_BYTES - 1;
    if (last && byte > 1) break;
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return [value, pos + 1];
    if (last) break;
    multiplier *= 128;
  }
  throw new RangeError(`malformed varint at byte ${offset}`);
}

/** int64 as protobuf writes it: a negative value takes ten bytes, as its two's complement. */
function encodeInt64(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer; pass a bigint`);
  const big = BigInt(value);
  if (big < INT64_MIN || big > INT64_MAX) throw new RangeError(`${value} is outside the int64 range`);
  return encodeVarint(BigInt.asUintN(64, big));
}

function encodeTag(number: number, wireType: number): Uint8Array {
  return encodeVarint(BigInt(number) * 8n + BigInt(wireType));
}

function encodeLength(chunks: readonly Uint8Array[]): Uint8Array {
  return encodeVarint(BigInt(chunks.reduce((total, chunk) => total + chunk.length, 0)));
}

function encodeVarint(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  for (; rest >= 0x80n; rest >>= 7n) bytes.push(Number(rest & 0x7fn) | 0x80);
  bytes.push(Number(rest));
  return Uint8Array.from(bytes);
}
