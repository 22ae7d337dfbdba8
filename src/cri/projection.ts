import protobuf from 'protobufjs';
import { NUMERIC_IDENTITY_FIELDS, type CriIdentity, type IdentityField, type IdentityPaths } from './method-specs.js';

interface FieldRead {
  readonly field: IdentityField;
  readonly segments: readonly string[];
  /** Read as a number (exit code, state) rather than a string. */
  readonly numeric: boolean;
}

/**
 * A cut-down message type holding only the fields one call's identity needs.
 * Decoding with it skips everything else on the wire, so a large request costs
 * little and fields nobody asked for (environment values, registry credentials)
 * are never even materialised.
 */
export class IdentityProjection {
  private constructor(
    private readonly type: protobuf.Type,
    private readonly reads: readonly FieldRead[],
  ) {}

  /** Builds the projection of `source` for `paths`; throws if a path does not exist in the proto. */
  static build(source: protobuf.Type, paths: IdentityPaths, name: string): IdentityProjection {
    const reads: FieldRead[] = Object.entries(paths).map(([field, path]) => ({
      field: field as IdentityField,
      segments: path.split('.'),
      numeric: NUMERIC_IDENTITY_FIELDS.has(field as IdentityField),
    }));
    const namespace = new protobuf.Root().define('projection');
    const type = projectType(
      source,
      reads.map((read) => read.segments),
      name,
      namespace,
    );
    namespace.root.resolveAll();
    // protobufjs generates a type's decoder the first time it decodes, a few milliseconds of the
    // relay's thread per type: done here, while criscope starts, the first calls of each method
    // (a kubelet's first relist is a dozen of them at once) find their decoders ready.
    for (const projected of namespace.nestedArray) if (projected instanceof protobuf.Type) projected.setup();
    return new IdentityProjection(type, reads);
  }

  /**
   * Decodes `payload` and sets the identity fields it carries on `identity`
   * (over any it already has), which it returns; throws on malformed bytes,
   * before setting any.
   */
  readInto(payload: Uint8Array, identity: CriIdentity): CriIdentity {
    const message = this.type.decode(payload) as unknown as Record<string, unknown>;
    const fields = identity as Record<IdentityField, string | number>;
    for (const read of this.reads) {
      const value = valueAt(message, read.segments);
      if (read.numeric ? typeof value === 'number' : typeof value === 'string' && value !== '') fields[read.field] = value as string | number;
    }
    return identity;
  }
}

function projectType(source: protobuf.Type, paths: readonly (readonly string[])[], name: string, namespace: protobuf.Namespace): protobuf.Type {
  const type = new protobuf.Type(name);
  namespace.add(type);
  const byFirst = new Map<string, (readonly string[])[]>();
  for (const path of paths) {
    const [first, ...rest] = path;
    if (first === undefined) continue;
    const group = byFirst.get(first) ?? [];
    if (rest.length > 0) group.push(rest);
    byFirst.set(first, group);
  }
  for (const [fieldName, rests] of byFirst) {
    const field = source.fields[fieldName];
    if (field === undefined) throw new Error(`${source.fullName} has no field "${fieldName}"`);
    if (rests.length === 0) {
      type.add(new protobuf.Field(fieldName, field.id, leafType(field)));
      continue;
    }
    const child = field.resolvedType;
    if (!(child instanceof protobuf.Type)) throw new Error(`${source.fullName}.${fieldName} is not a message`);
    const childType = projectType(child, rests, `${name}_${fieldName}`, namespace);
    type.add(new protobuf.Field(fieldName, field.id, childType.name));
  }
  return type;
}

/** Leaves are scalars; an enum is read as its number, which keeps the projection free of enum types. */
function leafType(field: protobuf.Field): string {
  if (field.resolvedType instanceof protobuf.Enum) return 'int32';
  if (field.resolvedType !== null) throw new Error(`${field.fullName} is a message, not a scalar`);
  return field.type;
}

function valueAt(message: Record<string, unknown>, segments: readonly string[]): unknown {
  let value: unknown = message;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}
