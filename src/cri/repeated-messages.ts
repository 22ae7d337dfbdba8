/**
 * Finds the requests that protobufjs and the runtime would read differently.
 * When a singular message field occurs more than once, protobufjs keeps only
 * the last occurrence while Go merges them all, so a policy judging the
 * decoded request could pass a container the runtime then creates otherwise.
 * Likewise protobufjs reads bool, enum and 32-bit integer varints as 32 bits
 * and, past their fifth byte, skips five bytes blindly: a bool of 2^32 is
 * false to protobufjs and true to Go, and a 6- to 9-byte varint puts
 * protobufjs out of step with Go for the rest of the message.
 */
import protobuf from 'protobufjs';
import { FIXED32, FIXED64, LENGTH_DELIMITED, VARINT, readFields, type FieldSpan } from './wire-edit.js';

/** Far deeper than any CRI message nests. */
const MAX_DEPTH = 32;
/** Go's limit, which readFields enforces on every varint outside a packed field. */
const MAX_VARINT_BYTES = 10;

const FIXED64_TYPES = new Set(['double', 'fixed64', 'sfixed64']);
const FIXED32_TYPES = new Set(['float', 'fixed32', 'sfixed32']);
const LENGTH_DELIMITED_TYPES = new Set(['string', 'bytes']);
/** Read by protobufjs as 32 bits; negative values are written sign-extended to ten bytes. */
const SIGNED_32_TYPES = new Set(['int32']);
/** Read by protobufjs as 32 bits; no encoder writes them in more than five bytes. */
const UNSIGNED_32_TYPES = new Set(['bool', 'uint32', 'sint32']);

/** How a varint field's value must be written for protobufjs and Go to read it alike. */
type VarintWidth = typeof WIDE | typeof NARROW | typeof NARROW_SIGNED;
/** int64, uint64, sint64: any varint Go accepts. */
const WIDE = 0;
/** bool, uint32, sint32: at most five bytes, below 2^32. */
const NARROW = 1;
/** int32 and enums: as NARROW, or a negative 32-bit value sign-extended to ten bytes. */
const NARROW_SIGNED = 2;

/** A field criscope does not judge, at `path` (field names, no element indices), and why. */
export interface AmbiguousEncoding {
  readonly path: string;
  readonly reason: string;
}

/**
 * The first field, in wire order at any depth, that protobufjs and Go could
 * read differently, or undefined if there is none: a singular message field
 * occurring more than once in `message`, or a bool, enum or 32-bit integer
 * (packed or not, map keys and values included) whose varint is longer than
 * five bytes or at least 2^32, unless it is an int32 or enum's ten-byte
 * negative value. Unknown fields are skipped. Throws a RangeError on
 * malformed bytes (a varint past ten bytes or 64 bits included, as Go does),
 * on nesting deeper than 32 messages, and on a known field sent with the
 * wrong wire type: protobufjs would misread it where Go keeps it aside as an
 * unknown field.
 */
export function findAmbiguousEncoding(type: protobuf.Type, message: Uint8Array): AmbiguousEncoding | undefined {
  return findInMessage(type, message, 0, message.length, '', 0);
}

/** What the walk needs of one field, worked out once per message type (the walk runs on every judged call). */
interface FieldPlan {
  readonly field: protobuf.Field;
  /** The same field, when it is a map. */
  readonly map: protobuf.MapField | undefined;
  readonly child: protobuf.Type | undefined;
  readonly wireType: number;
  readonly width: VarintWidth;
}

const plans = new WeakMap<protobuf.Type, Map<number, FieldPlan>>();

function planOf(type: protobuf.Type): Map<number, FieldPlan> {
  const known = plans.get(type);
  if (known !== undefined) return known;
  const plan = new Map<number, FieldPlan>();
  for (const field of type.fieldsArray) {
    const resolved = field.resolve().resolvedType;
    plan.set(field.id, {
      field,
      map: field instanceof protobuf.MapField ? field : undefined,
      child: resolved instanceof protobuf.Type ? resolved : undefined,
      wireType: wireTypeOf(field.type, resolved),
      width: varintWidth(field.type, resolved),
    });
  }
  plans.set(type, plan);
  return plan;
}

function findInMessage(type: protobuf.Type, bytes: Uint8Array, start: number, end: number, prefix: string, depth: number): AmbiguousEncoding | undefined {
  if (depth > MAX_DEPTH) throw new RangeError(`messages nest deeper than ${MAX_DEPTH} levels at ${prefix}`);
  const plan = planOf(type);
  let seen: Set<number> | undefined;
  for (const span of readFields(bytes, start, end)) {
    const known = plan.get(span.number);
    if (known === undefined) continue;
    const { field, child, wireType } = known;
    // Paths are only spelt out when needed: most fields are fine and have no children.
    const pathOf = (): string => (prefix === '' ? field.name : `${prefix}.${field.name}`);
    let found: AmbiguousEncoding | undefined;
    if (known.map !== undefined) {
      expectWireType(span, LENGTH_DELIMITED, pathOf);
      found = findInMapEntry(known.map, bytes, span, pathOf(), depth);
    } else {
      // A repeated number may also come packed into one length-delimited field.
      const packed = field.repeated && wireType !== LENGTH_DELIMITED && span.wireType === LENGTH_DELIMITED;
      if (packed) {
        found = checkPacked(wireType, known.width, bytes, span, pathOf);
      } else {
        expectWireType(span, wireType, pathOf);
        if (wireType === VARINT) found = checkVarint(known.width, bytes, span.valueStart, span.end, pathOf, 'field');
      }
      if (child !== undefined) {
        if (!field.repeated) {
          seen ??= new Set();
          if (seen.has(field.id)) return { path: pathOf(), reason: 'a singular message sent more than once' };
          seen.add(field.id);
        }
        found = findInMessage(child, bytes, span.valueStart, span.end, pathOf(), depth + 1);
      }
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A map entry is a message of key = 1 and value = 2; a message value is singular within its entry. */
function findInMapEntry(field: protobuf.MapField, bytes: Uint8Array, entry: FieldSpan, path: string, depth: number): AmbiguousEncoding | undefined {
  const valueType = field.resolve().resolvedType;
  let valueSeen = false;
  for (const span of readFields(bytes, entry.valueStart, entry.end)) {
    let found: AmbiguousEncoding | undefined;
    if (span.number === 1) {
      const keyWireType = wireTypeOf(field.keyType, null);
      expectWireType(span, keyWireType, () => `${path} key`);
      if (keyWireType === VARINT) found = checkVarint(varintWidth(field.keyType, null), bytes, span.valueStart, span.end, () => path, 'map key');
    } else if (span.number === 2) {
      const valueWireType = wireTypeOf(field.type, valueType);
      expectWireType(span, valueWireType, () => `${path} value`);
      if (valueWireType === VARINT) found = checkVarint(varintWidth(field.type, valueType), bytes, span.valueStart, span.end, () => path, 'map value');
      if (valueType instanceof protobuf.Type) {
        if (valueSeen) return { path, reason: 'a map entry with its message value sent more than once' };
        valueSeen = true;
        found = findInMessage(valueType, bytes, span.valueStart, span.end, path, depth + 1);
      }
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Checks the values of a packed field one by one. A list of fixed-size values
 * of the wrong length, or a varint cut off or longer than Go reads, is
 * malformed: a RangeError.
 */
function checkPacked(wireType: number, width: VarintWidth, bytes: Uint8Array, span: FieldSpan, pathOf: () => string): AmbiguousEncoding | undefined {
  const length = span.end - span.valueStart;
  if (wireType === FIXED32 || wireType === FIXED64) {
    const size = wireType === FIXED32 ? 4 : 8;
    if (length % size !== 0) throw new RangeError(`${pathOf()} at byte ${span.start} is packed in ${length} bytes, not a whole number of ${size}-byte values`);
    return undefined;
  }
  for (let offset = span.valueStart; offset < span.end; ) {
    const next = varintEnd(bytes, offset, span.end);
    const found = checkVarint(width, bytes, offset, next, pathOf, 'value in a packed field');
    if (found !== undefined) return found;
    offset = next;
  }
  return undefined;
}

/** Where the varint at `offset` ends; like Go, refuses more than ten bytes or 64 bits, and one cut off by `limit`. */
function varintEnd(bytes: Uint8Array, offset: number, limit: number): number {
  const last = Math.min(limit, offset + MAX_VARINT_BYTES) - 1;
  for (let pos = offset; pos <= last; pos++) {
    const byte = bytes[pos];
    if (byte < 0x80) {
      if (pos - offset === MAX_VARINT_BYTES - 1 && byte > 1) break;
      return pos + 1;
    }
  }
  throw new RangeError(`malformed varint at byte ${offset}`);
}

/** Whether protobufjs reads the varint in `bytes[start, end)` as Go does, for a field of this width. */
function checkVarint(width: VarintWidth, bytes: Uint8Array, start: number, end: number, pathOf: () => string, what: string): AmbiguousEncoding | undefined {
  if (width === WIDE) return undefined;
  const length = end - start;
  // Five bytes hold 35 bits: the fifth's bits past the fourth are 2^32 and up.
  if (length < 5 || (length === 5 && bytes[start + 4] <= 0x0f)) return undefined;
  if (length === 5) return { path: pathOf(), reason: `a varint of 2^32 or more for a 32-bit ${what}` };
  if (length === MAX_VARINT_BYTES && width === NARROW_SIGNED) {
    if (isSignExtended32(bytes, start)) return undefined;
    return { path: pathOf(), reason: `a 10-byte varint for a 32-bit ${what} that is not a negative 32-bit value sign-extended to 64 bits` };
  }
  return { path: pathOf(), reason: `a ${length}-byte varint for a 32-bit ${what}` };
}

/**
 * Whether the ten-byte varint at `start` is a negative 32-bit value written
 * as 64 bits: bit 31 and all the bits above it set. Its fifth byte carries
 * bits 28 to 34, the next four bits 35 to 62, the last bit 63.
 */
function isSignExtended32(bytes: Uint8Array, start: number): boolean {
  if (bytes[start + 4] < 0xf8) return false;
  for (let pos = start + 5; pos < start + 9; pos++) if (bytes[pos] !== 0xff) return false;
  return bytes[start + 9] === 0x01;
}

function varintWidth(typeName: string, resolved: protobuf.Type | protobuf.Enum | null): VarintWidth {
  if (resolved instanceof protobuf.Enum || SIGNED_32_TYPES.has(typeName)) return NARROW_SIGNED;
  if (UNSIGNED_32_TYPES.has(typeName)) return NARROW;
  return WIDE;
}

/** The wire type of one value of a field; protobufjs reads by the schema without checking the tag's. */
function wireTypeOf(typeName: string, resolved: protobuf.Type | protobuf.Enum | null): number {
  if (resolved instanceof protobuf.Type || LENGTH_DELIMITED_TYPES.has(typeName)) return LENGTH_DELIMITED;
  if (FIXED64_TYPES.has(typeName)) return FIXED64;
  if (FIXED32_TYPES.has(typeName)) return FIXED32;
  return VARINT;
}

function expectWireType(span: FieldSpan, wireType: number, pathOf: () => string): void {
  if (span.wireType !== wireType) {
    throw new RangeError(`${pathOf()} at byte ${span.start} has wire type ${span.wireType}, expected ${wireType}`);
  }
}
