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
import { FIXED32, FIXED64, FieldReader, LENGTH_DELIMITED, VARINT, type FieldSpan } from './wire-fields.js';

/** Far deeper than any CRI message nests. */
const MAX_DEPTH = 32;
/** Go's limit, which FieldReader enforces on every varint outside a packed field. */
const MAX_VARINT_BYTES = 10;

const EMPTY = new Uint8Array(0);

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
 * unknown field. Fields are read as the walk reaches them, so of an
 * ambiguous field and malformed bytes after it, the first in wire order is
 * what comes out.
 */
export function findAmbiguousEncoding(type: protobuf.Type, message: Uint8Array): AmbiguousEncoding | undefined {
  try {
    return findInMessage(type, message, 0, message.length, [], 0);
  } finally {
    // The readers are kept for the next walk, not the request's bytes. (forEach: the levels a walk never reached are holes.)
    readers.forEach((reader) => reader.reset(EMPTY, 0, 0));
  }
}

/** What the walk needs of one field, worked out once per message type (the walk runs on every judged call). */
interface FieldPlan {
  readonly field: protobuf.Field;
  readonly name: string;
  /** Whether it is a map: its wire type and width are its values'; its keys' are below. */
  readonly map: boolean;
  /** Its message type, or a map's message value type. */
  readonly child: protobuf.Type | undefined;
  readonly wireType: number;
  readonly width: VarintWidth;
  readonly keyWireType: number;
  readonly keyWidth: VarintWidth;
  /** A singular message field's bit in its message's mask of fields seen; 0 for other fields, and past the mask's 31 bits. */
  readonly seenBit: number;
}

const plans = new WeakMap<protobuf.Type, Map<number, FieldPlan>>();

function planOf(type: protobuf.Type): Map<number, FieldPlan> {
  const known = plans.get(type);
  if (known !== undefined) return known;
  const plan = new Map<number, FieldPlan>();
  let singularMessages = 0;
  for (const field of type.fieldsArray) {
    const resolved = field.resolve().resolvedType;
    const keyType = field instanceof protobuf.MapField ? field.keyType : undefined;
    const singularMessage = keyType === undefined && !field.repeated && resolved instanceof protobuf.Type;
    plan.set(field.id, {
      field,
      name: field.name,
      map: keyType !== undefined,
      child: resolved instanceof protobuf.Type ? resolved : undefined,
      wireType: wireTypeOf(field.type, resolved),
      width: varintWidth(field.type, resolved),
      keyWireType: keyType === undefined ? VARINT : wireTypeOf(keyType, null),
      keyWidth: keyType === undefined ? WIDE : varintWidth(keyType, null),
      seenBit: singularMessage && singularMessages < 31 ? 1 << singularMessages++ : 0,
    });
  }
  plans.set(type, plan);
  return plan;
}

/**
 * One reader for each level of the walk, reused from call to call: messages
 * at depth d are read at level 2d, the entries of their maps at 2d + 1. The
 * walk is synchronous, so no two walks share them.
 */
const readers: FieldReader[] = [];

function readerAt(level: number): FieldReader {
  let reader = readers[level];
  if (reader === undefined) {
    reader = new FieldReader(EMPTY, 0, 0);
    readers[level] = reader;
  }
  return reader;
}

/**
 * The names of the fields from the outermost message down to the message
 * being read, pushed and popped as the walk descends: a field's path is only
 * spelt out when it is reported.
 */
type FieldPath = string[];

function pathText(path: FieldPath, name?: string): string {
  if (name === undefined) return path.join('.');
  return path.length === 0 ? name : `${path.join('.')}.${name}`;
}

function findInMessage(type: protobuf.Type, bytes: Uint8Array, start: number, end: number, path: FieldPath, depth: number): AmbiguousEncoding | undefined {
  if (depth > MAX_DEPTH) throw new RangeError(`messages nest deeper than ${MAX_DEPTH} levels at ${pathText(path)}`);
  const plan = planOf(type);
  let seenMask = 0;
  let seen: Set<number> | undefined;
  const span = readerAt(2 * depth).reset(bytes, start, end);
  while (span.next()) {
    const known = plan.get(span.number);
    if (known === undefined) continue;
    const { field, name, child, wireType } = known;
    let found: AmbiguousEncoding | undefined;
    if (known.map) {
      expectWireType(span, LENGTH_DELIMITED, path, name);
      path.push(name);
      found = findInMapEntry(known, bytes, span.valueStart, span.end, path, depth);
      path.pop();
    } else {
      // A repeated number may also come packed into one length-delimited field.
      const packed = field.repeated && wireType !== LENGTH_DELIMITED && span.wireType === LENGTH_DELIMITED;
      if (packed) {
        found = checkPacked(wireType, known.width, bytes, span, path, name);
      } else {
        expectWireType(span, wireType, path, name);
        if (wireType === VARINT) found = checkVarint(known.width, bytes, span.valueStart, span.end, path, name, 'field');
      }
      if (child !== undefined) {
        if (!field.repeated) {
          let again: boolean;
          if (known.seenBit !== 0) {
            again = (seenMask & known.seenBit) !== 0;
            seenMask |= known.seenBit;
          } else {
            seen ??= new Set();
            again = seen.has(field.id);
            seen.add(field.id);
          }
          if (again) return { path: pathText(path, name), reason: 'a singular message sent more than once' };
        }
        path.push(name);
        found = findInMessage(child, bytes, span.valueStart, span.end, path, depth + 1);
        path.pop();
      }
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A map entry in `bytes[start, end)` is a message of key = 1 and value = 2; a message value is singular within its entry. `path` ends with the map's name. */
function findInMapEntry(map: FieldPlan, bytes: Uint8Array, start: number, end: number, path: FieldPath, depth: number): AmbiguousEncoding | undefined {
  let valueSeen = false;
  const span = readerAt(2 * depth + 1).reset(bytes, start, end);
  while (span.next()) {
    let found: AmbiguousEncoding | undefined;
    if (span.number === 1) {
      expectWireType(span, map.keyWireType, path, undefined, ' key');
      if (map.keyWireType === VARINT) found = checkVarint(map.keyWidth, bytes, span.valueStart, span.end, path, undefined, 'map key');
    } else if (span.number === 2) {
      expectWireType(span, map.wireType, path, undefined, ' value');
      if (map.wireType === VARINT) found = checkVarint(map.width, bytes, span.valueStart, span.end, path, undefined, 'map value');
      if (map.child !== undefined) {
        if (valueSeen) return { path: pathText(path), reason: 'a map entry with its message value sent more than once' };
        valueSeen = true;
        found = findInMessage(map.child, bytes, span.valueStart, span.end, path, depth + 1);
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
function checkPacked(wireType: number, width: VarintWidth, bytes: Uint8Array, span: FieldSpan, path: FieldPath, name: string): AmbiguousEncoding | undefined {
  const length = span.end - span.valueStart;
  if (wireType === FIXED32 || wireType === FIXED64) {
    const size = wireType === FIXED32 ? 4 : 8;
    if (length % size !== 0) throw new RangeError(`${pathText(path, name)} at byte ${span.start} is packed in ${length} bytes, not a whole number of ${size}-byte values`);
    return undefined;
  }
  for (let offset = span.valueStart; offset < span.end; ) {
    const next = varintEnd(bytes, offset, span.end);
    const found = checkVarint(width, bytes, offset, next, path, name, 'value in a packed field');
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

/** Whether protobufjs reads the varint in `bytes[start, end)` as Go does, for a field of this width; `name` is the field's, undefined for a map's key or value. */
function checkVarint(width: VarintWidth, bytes: Uint8Array, start: number, end: number, path: FieldPath, name: string | undefined, what: string): AmbiguousEncoding | undefined {
  if (width === WIDE) return undefined;
  const length = end - start;
  // Five bytes hold 35 bits: the fifth's bits past the fourth are 2^32 and up.
  if (length < 5 || (length === 5 && bytes[start + 4] <= 0x0f)) return undefined;
  if (length === 5) return { path: pathText(path, name), reason: `a varint of 2^32 or more for a 32-bit ${what}` };
  if (length === MAX_VARINT_BYTES && width === NARROW_SIGNED) {
    if (isSignExtended32(bytes, start)) return undefined;
    return { path: pathText(path, name), reason: `a 10-byte varint for a 32-bit ${what} that is not a negative 32-bit value sign-extended to 64 bits` };
  }
  return { path: pathText(path, name), reason: `a ${length}-byte varint for a 32-bit ${what}` };
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

/** `name` is the field's, undefined for a map's key or value (`suffix` says which). */
function expectWireType(span: FieldSpan, wireType: number, path: FieldPath, name: string | undefined, suffix = ''): void {
  if (span.wireType !== wireType) {
    throw new RangeError(`${pathText(path, name)}${suffix} at byte ${span.start} has wire type ${span.wireType}, expected ${wireType}`);
  }
}
