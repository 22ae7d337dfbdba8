/**
 * Rewrites one varint field deep inside an encoded protobuf message and copies
 * every other byte as it came, unknown fields included: a clamped request
 * differs from what the kubelet sent only in the value the policy changed.
 */
import protobuf from 'protobufjs';
import { LENGTH_DELIMITED, VARINT, readFields, type FieldSpan } from './wire-fields.js';

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const EMPTY = new Uint8Array(0);

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
