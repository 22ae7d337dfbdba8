import protobuf from 'protobufjs';

/** Where partial types live: beside the CRI types they refer to, so their fields resolve. */
const PARTIAL_NAMESPACE = 'criscope_partial';

/**
 * A message type that knows only some fields of `source`: each dotted path
 * keeps that field whole (a message field with all of its own fields), and
 * the messages on the way keep only what the paths go through. Decoding with
 * it skips everything else on the wire as unknown fields, so a reader that
 * needs a few fields of a large request pays for those alone.
 */
export function partialType(source: protobuf.Type, paths: readonly string[], name: string): protobuf.Type {
  const root = source.root;
  const namespace = (root.get(PARTIAL_NAMESPACE) as protobuf.Namespace | null) ?? root.define(PARTIAL_NAMESPACE);
  const existing = namespace.get(name);
  if (existing instanceof protobuf.Type) return existing;
  const type = build(source, paths.map((path) => path.split('.')), name, namespace);
  root.resolveAll();
  return type;
}

function build(source: protobuf.Type, paths: readonly (readonly string[])[], name: string, namespace: protobuf.Namespace): protobuf.Type {
  const type = new protobuf.Type(name);
  namespace.add(type);
  const byField = new Map<string, (readonly string[])[] | 'whole'>();
  for (const [first, ...rest] of paths) {
    if (first === undefined) continue;
    const group = byField.get(first);
    if (rest.length === 0 || group === 'whole') byField.set(first, 'whole');
    else byField.set(first, [...(group ?? []), rest]);
  }
  for (const [fieldName, rests] of byField) {
    const field = source.fields[fieldName];
    if (field === undefined) throw new Error(`${source.fullName} has no field "${fieldName}"`);
    field.resolve();
    if (rests === 'whole') {
      type.add(copyOf(field));
      continue;
    }
    if (!(field.resolvedType instanceof protobuf.Type) || field instanceof protobuf.MapField) throw new Error(`${field.fullName} is not a message`);
    const child = build(field.resolvedType, rests, `${name}_${fieldName}`, namespace);
    type.add(new protobuf.Field(fieldName, field.id, child.fullName, field.repeated ? 'repeated' : undefined));
  }
  return type;
}

/** The same field, its type named in full so it resolves from the partial namespace. */
function copyOf(field: protobuf.Field): protobuf.FieldBase {
  const typeName = field.resolvedType === null ? field.type : field.resolvedType.fullName;
  if (field instanceof protobuf.MapField) return new protobuf.MapField(field.name, field.id, field.keyType, typeName);
  return new protobuf.Field(field.name, field.id, typeName, field.repeated ? 'repeated' : undefined);
}
