/**
 * Finds the requests that protobufjs and the runtime would read differently.
 * When a singular message field occurs more than once, protobufjs keeps only
 * the last occurrence while Go merges them all, so a policy judging the
 * decoded request could pass a container the runtime then creates otherwise.
 */
import protobuf from 'protobufjs';
import { FIXED32, FIXED64, LENGTH_DELIMITED, VARINT, readFields, type FieldSpan } from './wire-edit.js';

/** Far deeper than any CRI message nests. */
const MAX_DEPTH = 32;

const FIXED64_TYPES = new Set(['double', 'fixed64', 'sfixed64']);
const FIXED32_TYPES = new Set(['float', 'fixed32', 'sfixed32']);
const LENGTH_DELIMITED_TYPES = new Set(['string', 'bytes']);

/**
 * The dotted path (field names, no element indices) of the first singular
 * message field, in wire order at any depth, that occurs more than once in
 * `message`, or undefined if none does. Unknown fields are skipped. Throws a
 * RangeError on malformed bytes, on nesting deeper than 32 messages, and on a
 * known field sent with the wrong wire type: protobufjs would misread it
 * where Go keeps it aside as an unknown field.
 */
export function findRepeatedSingularMessage(type: protobuf.Type, message: Uint8Array): string | undefined {
  return findInMessage(type, message, 0, message.length, '', 0);
}

function findInMessage(type: protobuf.Type, bytes: Uint8Array, start: number, end: number, prefix: string, depth: number): string | undefined {
  if (depth > MAX_DEPTH) throw new RangeError(`messages nest deeper than ${MAX_DEPTH} levels at ${prefix}`);
  const seen = new Set<number>();
  for (const span of readFields(bytes, start, end)) {
    const field = type.fieldsById[span.number] as protobuf.Field | undefined;
    if (field === undefined) continue;
    const path = prefix === '' ? field.name : `${prefix}.${field.name}`;
    let found: string | undefined;
    if (field instanceof protobuf.MapField) {
      expectWireType(span, LENGTH_DELIMITED, path);
      found = findInMapEntry(field, bytes, span, path, depth);
    } else {
      const child = field.resolve().resolvedType;
      const wireType = wireTypeOf(field.type, child);
      // A repeated number may also come packed into one length-delimited field.
      const packed = field.repeated && wireType !== LENGTH_DELIMITED && span.wireType === LENGTH_DELIMITED;
      if (!packed) expectWireType(span, wireType, path);
      if (!(child instanceof protobuf.Type)) continue;
      if (!field.repeated) {
        if (seen.has(field.id)) return path;
        seen.add(field.id);
      }
      found = findInMessage(child, bytes, span.valueStart, span.end, path, depth + 1);
    }
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A map entry is a message of key = 1 and value = 2; a message value is singular within its entry. */
function findInMapEntry(field: protobuf.MapField, bytes: Uint8Array, entry: FieldSpan, path: string, depth: number): string | undefined {
  const valueType = field.resolve().resolvedType;
  let valueSeen = false;
  for (const span of readFields(bytes, entry.valueStart, entry.end)) {
    if (span.number === 1) expectWireType(span, wireTypeOf(field.keyType, null), `${path} key`);
    if (span.number !== 2) continue;
    expectWireType(span, wireTypeOf(field.type, valueType), `${path} value`);
    if (!(valueType instanceof protobuf.Type)) continue;
    if (valueSeen) return path;
    valueSeen = true;
    const found = findInMessage(valueType, bytes, span.valueStart, span.end, path, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The wire type of one value of a field; protobufjs reads by the schema without checking the tag's. */
function wireTypeOf(typeName: string, resolved: protobuf.Type | protobuf.Enum | null): number {
  if (resolved instanceof protobuf.Type || LENGTH_DELIMITED_TYPES.has(typeName)) return LENGTH_DELIMITED;
  if (FIXED64_TYPES.has(typeName)) return FIXED64;
  if (FIXED32_TYPES.has(typeName)) return FIXED32;
  return VARINT;
}

function expectWireType(span: FieldSpan, wireType: number, path: string): void {
  if (span.wireType !== wireType) {
    throw new RangeError(`${path} at byte ${span.start} has wire type ${span.wireType}, expected ${wireType}`);
  }
}
