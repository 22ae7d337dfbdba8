/**
 * Container image references, parsed and normalised as containerd and Docker
 * do (github.com/distribution/reference), so that a policy pattern sees the
 * same registry and repository the runtime will pull from.
 */

/** A reference that names an image: registry, repository, and optionally a tag and a digest. */
export interface ImageName {
  readonly kind: 'name';
  /** As canonicalRegistry gives it. */
  readonly registry: string;
  /** With "library/" for Docker Hub's official images. */
  readonly repository: string;
  /** Undefined when the reference has none: distinct from an explicit "latest". */
  readonly tag: string | undefined;
  /** "sha256:<64 hex>", when the reference is pinned. */
  readonly digest: string | undefined;
  /** "registry/repository[:tag][@digest]". */
  readonly name: string;
}

/** A reference that is an image id rather than a name. */
export interface ImageId {
  readonly kind: 'id';
  /** "sha256:<64 hex>". */
  readonly id: string;
}

export interface InvalidImageReference {
  readonly kind: 'invalid';
  readonly reason: string;
}

export type ParsedImageReference = ImageName | ImageId | InvalidImageReference;

export const DOCKER_HUB = 'docker.io';
/** Docker Hub's legacy name, which Docker rewrites to docker.io. */
const LEGACY_DOCKER_HUB = 'index.docker.io';
const OFFICIAL_IMAGES = 'library/';
/** distribution/reference's limit on "registry/repository". */
const MAX_NAME_LENGTH = 255;

const IMAGE_ID = /^(?:sha256:)?([0-9a-f]{64})$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^\w[\w.-]{0,127}$/;
const HOST_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const REGISTRY = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

function invalid(reason: string): InvalidImageReference {
  return { kind: 'invalid', reason };
}

/** Whether the first path component names a registry rather than a Docker Hub namespace (distribution's rule). */
function isRegistry(component: string): boolean {
  return component === 'localhost' || /[.:]/.test(component) || component.toLowerCase() !== component;
}

/**
 * A registry as written, in the form policy compares: lower case (host names
 * are case-insensitive, and a policy must not be dodged by spelling), and
 * Docker Hub under one name.
 */
export function canonicalRegistry(written: string): string {
  const registry = written.toLowerCase();
  return registry === LEGACY_DOCKER_HUB ? DOCKER_HUB : registry;
}

/** The registry and repository of "[registry/]path", with Docker Hub's defaults filled in. */
function splitRegistry(path: string): { registry: string; repository: string } {
  const slash = path.indexOf('/');
  if (slash === -1) return { registry: DOCKER_HUB, repository: OFFICIAL_IMAGES + path };
  const first = path.slice(0, slash);
  if (!isRegistry(first)) return { registry: DOCKER_HUB, repository: path };
  const registry = canonicalRegistry(first);
  const repository = path.slice(slash + 1);
  return { registry, repository: registry === DOCKER_HUB && !repository.includes('/') ? OFFICIAL_IMAGES + repository : repository };
}

function repositoryProblem(repository: string): string | undefined {
  for (const component of repository.split('/')) {
    if (component === '') return `repository "${repository}" has an empty path component`;
    if (component.toLowerCase() !== component) return `repository "${repository}" must be lower case`;
    if (!PATH_COMPONENT.test(component)) return `repository path component "${component}" may hold only a-z, 0-9 and single separators (".", "_", "__", "-")`;
  }
  return undefined;
}

/** The normalised form of a reference ("nginx" → docker.io/library/nginx, untagged), an image id, or why it is invalid. */
export function parseImageReference(reference: string): ParsedImageReference {
  const id = IMAGE_ID.exec(reference);
  if (id) return { kind: 'id', id: `sha256:${id[1]}` };

  const [named = '', digest, ...extra] = reference.split('@');
  if (extra.length > 0) return invalid('has more than one "@"');
  if (digest !== undefined && !DIGEST.test(digest)) return invalid(`digest "${digest}" is not sha256:<64 lower-case hex digits>`);

  // A tag follows the last ":" after the last "/"; an earlier ":" is a registry's port.
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  const path = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) return invalid(`tag "${tag}" is not valid (letters, digits, "_", "." and "-", up to 128, not starting with "." or "-")`);
  if (path === '') return invalid('has no repository');

  const { registry, repository } = splitRegistry(path);
  if (!REGISTRY.test(registry)) return invalid(`registry "${registry}" is not a valid host[:port]`);
  const problem = repositoryProblem(repository);
  if (problem !== undefined) return invalid(problem);
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) return invalid(`name is longer than ${MAX_NAME_LENGTH} characters`);

  const name = `${registry}/${repository}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  return { kind: 'name', registry, repository, tag, digest, name };
}

/**
 * parseImageReference with a bounded memory of recent answers, for the hot
 * path: a node pulls and starts the same few images over and over.
 */
export function cachingReferenceParser(capacity: number): (reference: string) => ParsedImageReference {
  const recent = new Map<string, ParsedImageReference>();
  return (reference) => {
    const known = recent.get(reference);
    if (known !== undefined) return known;
    const parsed = parseImageReference(reference);
    if (recent.size >= capacity) {
      // A Map keeps insertion order: its first key is the oldest entry.
      const oldest = recent.keys().next();
      if (oldest.done !== true) recent.delete(oldest.value);
    }
    recent.set(reference, parsed);
    return parsed;
  };
}
