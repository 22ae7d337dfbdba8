/**
 * Image patterns from the policy file: "registry/path[:tag]", where "*" is
 * one path segment, "**" any number of them, and the optional tag is a glob
 * too. Each is compiled once, when the policy loads. A pattern with a tag
 * matches no reference with a digest: the runtime pulls that by its digest,
 * whatever tag it also names.
 */
import picomatch from 'picomatch';
import { canonicalRegistry, DOCKER_HUB, type ImageName } from './image-reference.js';

/** A compiled pattern, matched against normalised references. */
export interface ImagePattern {
  /** The pattern as the policy file wrote it. */
  readonly source: string;
  matches(image: ImageName): boolean;
}

export type CompiledImagePattern = { readonly ok: true; readonly pattern: ImagePattern } | { readonly ok: false; readonly reason: string };

const MATCH_ALL = '**';
/** `dot`: a segment may begin with "."; `windows: false`: "\" is never a path separator, whatever the host. */
const GLOB_OPTIONS: picomatch.PicomatchOptions = { dot: true, windows: false };

function rejected(source: string, problem: string): CompiledImagePattern {
  return { ok: false, reason: `pattern "${source}" ${problem}` };
}

/** A pattern's first segment must look like a registry (or be a glob), so "library/nginx" is not silently taken as a host. */
function looksLikeRegistry(segment: string): boolean {
  return segment === 'localhost' || /[.:*?[{]/.test(segment);
}

/**
 * The tag a reference is pulled by: an untagged reference without a digest
 * means "latest", so a tag pattern cannot be dodged by leaving the tag out.
 * A reference with a digest is pulled by the digest alone, whatever tag it
 * also names ("app:v1@sha256:…" may be any image), so it has none.
 */
function effectiveTag(image: ImageName): string | undefined {
  if (image.digest !== undefined) return undefined;
  return image.tag ?? 'latest';
}

export function compileImagePattern(source: string): CompiledImagePattern {
  if (source === MATCH_ALL) return { ok: true, pattern: { source, matches: () => true } };
  if (/\s/.test(source)) return rejected(source, 'contains white space');
  if (source.includes('@')) return rejected(source, 'names a digest: patterns match registry, repository and tag (pin digests with requireDigest)');
  if (source.startsWith('!')) return rejected(source, 'is negated: list the images to refuse under denied instead');

  const lastSlash = source.lastIndexOf('/');
  if (lastSlash === -1) return rejected(source, 'has no registry: write it fully qualified, e.g. "docker.io/library/nginx", or "**" for any image');
  // As in a reference, a tag follows the last ":" after the last "/"; an earlier ":" is a registry's port.
  const colon = source.lastIndexOf(':');
  const path = colon > lastSlash ? source.slice(0, colon) : source;
  const tag = colon > lastSlash ? source.slice(colon + 1) : undefined;
  if (tag === '') return rejected(source, 'has an empty tag after ":"');

  const slash = path.indexOf('/');
  const registry = canonicalRegistry(path.slice(0, slash));
  const repository = path.slice(slash + 1);
  if (registry === '' || repository.split('/').includes('')) return rejected(source, 'has an empty path segment');
  if (!looksLikeRegistry(registry)) return rejected(source, `does not start with a registry: write it fully qualified, e.g. "docker.io/${source}"`);
  if (repository.toLowerCase() !== repository) return rejected(source, 'has upper case in its repository, which no image name can have');
  if (registry === DOCKER_HUB && !repository.includes('/') && !repository.includes(MATCH_ALL)) {
    return rejected(source, `has no Docker Hub namespace: official images are "docker.io/library/${repository}"`);
  }

  let matchesPath: picomatch.Matcher;
  let matchesTag: picomatch.Matcher | undefined;
  try {
    matchesPath = picomatch(`${registry}/${repository}`, GLOB_OPTIONS);
    matchesTag = tag === undefined ? undefined : picomatch(tag, GLOB_OPTIONS);
  } catch (error) {
    return rejected(source, `is not a valid glob: ${error instanceof Error ? error.message : String(error)}`);
  }
  const matches = (image: ImageName): boolean => {
    if (!matchesPath(`${image.registry}/${image.repository}`)) return false;
    if (matchesTag === undefined) return true;
    const imageTag = effectiveTag(image);
    return imageTag !== undefined && matchesTag(imageTag);
  };
  return { ok: true, pattern: { source, matches } };
}
