/**
 * A decoded protobufjs message as a plain object in the shapes CEL works
 * with: integers as bigint, enums by name, proto3 defaults for unset scalars,
 * and unset message fields absent so that `has()` can tell.
 */
import protobuf from 'protobufjs';

/** A plain-object view of a decoded message: snake_case keys as in the proto (what CEL rules read). */
export type MessageObject = { readonly [field: string]: unknown };

type Convert = (value: unknown) => unknown;

/** How values of one proto type convert. */
interface Conversion {
  readonly convert: Convert;
  /** What an unset singular field reads as: the proto3 default, or undefined (absent) for a message. */
  readonly unset: unknown;
}

/** An int64-family value as protobufjs holds it (a Long, or a number or string when built by hand) → its 64 bits. */
function bits64(value: unknown): bigint {
  const { lo, hi } = protobuf.util.LongBits.from(value as number | string);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

const int32: Conversion = { convert: (value) => BigInt(value as number), unset: 0n };
const int64: Conversion = { convert: (value) => BigInt.asIntN(64, bits64(value)), unset: 0n };
const uint64: Conversion = { convert: (value) => BigInt.asUintN(64, bits64(value)), unset: 0n };
const floating: Conversion = { convert: (value) => value, unset: 0 };

const SCALARS: Readonly<Record<string, Conversion>> = {
  int32,
  sint32: int32,
  sfixed32: int32,
  uint32: int32,
  fixed32: int32,
  int64,
  sint64: int64,
  sfixed64: int64,
  uint64,
  fixed64: uint64,
  double: floating,
  float: floating,
  bool: { convert: (value) => value, unset: false },
  string: { convert: (value) => value, unset: '' },
  // A copy: decoded bytes are Buffers (views into the wire payload), and CEL wants a plain Uint8Array.
  bytes: { convert: (value) => new Uint8Array(value as ArrayLike<number>), unset: new Uint8Array(0) },
};

type MessageConverter = (message: MessageObject) => MessageObject;

interface FieldReader {
  readonly name: string;
  /** The field's value in the plain view; undefined leaves the key out. */
  readonly read: Convert;
}

/** Built once per type: this runs on every judged call. */
const converters = new WeakMap<protobuf.Type, MessageConverter>();

function messageConverter(type: protobuf.Type): MessageConverter {
  const cached = converters.get(type);
  if (cached !== undefined) return cached;
  // Throws on a type that names an unknown type, before anything half-built is cached.
  type.resolveAll();
  const readers: FieldReader[] = [];
  const convert: MessageConverter = (message) => {
    const object: Record<string, unknown> = {};
    for (const { name, read } of readers) {
      const value = read(message[name]);
      if (value !== undefined) object[name] = value;
    }
    return object;
  };
  // Cached before the fields are built, so a type that contains itself terminates.
  converters.set(type, convert);
  readers.push(...type.fieldsArray.map(fieldReader));
  return convert;
}

/** How one value of the field's type (a singular value, a list element, a map value) converts. */
function elementConversion(field: protobuf.Field): Conversion {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    const convert = messageConverter(resolved);
    return { convert: (value) => convert(value as MessageObject), unset: undefined };
  }
  if (resolved instanceof protobuf.Enum) {
    const names = resolved.valuesById;
    // A value this proto does not know (proto3 enums are open) shows as its number, still a string.
    const convert = (value: unknown): unknown => (typeof value === 'number' ? (names[value] ?? String(value)) : value);
    return { convert, unset: convert(0) };
  }
  // Resolved, so any other type is a scalar.
  return SCALARS[field.type];
}

function fieldReader(field: protobuf.Field): FieldReader {
  const { name } = field;
  const element = elementConversion(field);
  if (field.map) {
    // Object.fromEntries defines own keys, so even a key such as "__proto__" is plain data.
    const read = (value: unknown): unknown =>
      Object.fromEntries(Object.entries((value ?? {}) as MessageObject).map(([key, entry]) => [key, element.convert(entry)]));
    return { name, read };
  }
  if (field.repeated) return { name, read: (value) => ((value ?? []) as readonly unknown[]).map(element.convert) };
  return { name, read: (value) => (value === undefined || value === null ? element.unset : element.convert(value)) };
}

/** `message` (of `type`) as a plain object: see the module comment for how each kind of field appears. */
export function toMessageObject(type: protobuf.Type, message: protobuf.Message): MessageObject {
  return messageConverter(type)(message as unknown as MessageObject);
}
