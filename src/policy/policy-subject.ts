import type { PolicyPaths } from '../cri/method-specs.js';
import { cachingReferenceParser } from './images/image-reference.js';
import type { ImageSubject, PolicySubject, ResourceSubject, SecuritySubject } from './types.js';
import type { MessageObject } from '../cri/message-object.js';
import type { PodIdentity } from '../cri/pod-identity.js';

/** What policy needs from outside a request: the runtime's view of pods and images, cached by the caller. */
export interface PolicyLookups {
  /** The pod a sandbox belongs to; undefined when the runtime does not know the sandbox. */
  podOfSandbox(sandboxId: string): Promise<PodIdentity | undefined>;
  /** The pod a container belongs to; undefined when the runtime does not know the container. */
  podOfContainer(containerId: string): Promise<PodIdentity | undefined>;
  /** The repo tags and repo digests of an image id; rejects, saying why, when the runtime cannot tell. */
  imageNames(image: string): Promise<readonly string[]>;
}

export const UNKNOWN_POD: PodIdentity = Object.freeze({ namespace: '', name: '', uid: '', labels: Object.freeze({}) });

/** Each dotted path's segments, split once: the paths come from the method table and the rules, a handful in all. */
const pathSegments = new Map<string, readonly string[]>();

function segmentsOf(path: string): readonly string[] {
  let segments = pathSegments.get(path);
  if (segments === undefined) {
    segments = path.split('.');
    pathSegments.set(path, segments);
  }
  return segments;
}

/** The value at a dotted path of a decoded message; undefined where a message on the way is absent. */
export function valueAt(message: MessageObject, path: string): unknown {
  let value: unknown = message;
  for (const segment of segmentsOf(path)) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as MessageObject)[segment];
  }
  return value;
}

function messageAt(message: MessageObject, path: string): MessageObject | undefined {
  const value = valueAt(message, path);
  return typeof value === 'object' && value !== null ? (value as MessageObject) : undefined;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A 64-bit integer as protobufjs decodes it. */
interface Long {
  toNumber(): number;
}

/** An integer field as a number (decoded as a number, a Long or a bigint); limits in bytes stay well inside 2^53. */
function integer(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && value !== null && 'toNumber' in value) return (value as Long).toNumber();
  return 0;
}

function stringMap(value: unknown): Readonly<Record<string, string>> {
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
}

/** The pod a PodSandboxConfig describes. */
export function podOfConfig(config: MessageObject): PodIdentity {
  const metadata = messageAt(config, 'metadata') ?? {};
  return { namespace: text(metadata['namespace']), name: text(metadata['name']), uid: text(metadata['uid']), labels: stringMap(config['labels']) };
}

/**
 * The pod a call concerns. A sandbox id names it best: the runtime's record
 * of the sandbox (cached) cannot be forged in this request, as its
 * sandbox_config could; the request's own sandbox_config stands in when the
 * runtime does not know the sandbox (or cannot say), or the call names none.
 */
async function podOf(paths: PolicyPaths, request: MessageObject, lookups: PolicyLookups): Promise<PodIdentity> {
  const sandboxId = paths.sandboxId === undefined ? '' : text(valueAt(request, paths.sandboxId));
  // A runtime that cannot answer leaves the request's own config to stand in (the runtime will fail the call itself if it is in trouble).
  const recorded = sandboxId === '' ? undefined : await lookups.podOfSandbox(sandboxId).catch(() => undefined);
  if (recorded !== undefined) return recorded;
  const config = paths.podConfig === undefined ? undefined : messageAt(request, paths.podConfig);
  if (config !== undefined) return podOfConfig(config);
  const containerId = paths.containerId === undefined ? '' : text(valueAt(request, paths.containerId));
  if (containerId !== '') return (await lookups.podOfContainer(containerId)) ?? UNKNOWN_POD;
  return UNKNOWN_POD;
}

/** Image names recur call after call (an image's tags and digests): each is parsed once. */
const parseImageReference = cachingReferenceParser(512);

/** Whether `reference` is one of `names`, compared normalised: by digest when it has one, else by tag ("latest" when untagged). */
function isOneOf(reference: string, names: readonly string[]): boolean {
  const wanted = parseImageReference(reference);
  if (wanted.kind !== 'name') return false;
  return names.some((name) => {
    const known = parseImageReference(name);
    if (known.kind !== 'name' || known.registry !== wanted.registry || known.repository !== wanted.repository) return false;
    return wanted.digest !== undefined ? known.digest === wanted.digest : known.digest === undefined && (known.tag ?? 'latest') === (wanted.tag ?? 'latest');
  });
}

/**
 * The names of an image the runtime already has. Whatever the request gives
 * (a name, an id, an id prefix), the runtime resolves it, and policy judges
 * what it resolves to: kubelet's user_specified_image once the runtime
 * confirms the image goes by it (else any client could name an allowed image
 * beside the id of another), else the given name when the image goes by it,
 * else every name the image has.
 */
async function localImageOf(spec: MessageObject, lookups: PolicyLookups): Promise<ImageSubject> {
  const given = text(spec['image']);
  let names: readonly string[];
  try {
    names = await lookups.imageNames(given);
  } catch (error) {
    return { given, names: [], unresolved: (error as Error).message };
  }
  if (names.length === 0) return { given, names, unresolved: 'the runtime knows it by no name' };
  const userSpecified = text(spec['user_specified_image']);
  if (userSpecified !== '') {
    return isOneOf(userSpecified, names) ? { given, names: [userSpecified] } : { given, names: [], unresolved: `the runtime does not know it as "${userSpecified}"` };
  }
  return { given, names: isOneOf(given, names) ? [given] : names };
}

/** An image to pull is judged by the name it is pulled by. */
function pulledImageOf(spec: MessageObject): ImageSubject {
  const given = text(spec['image']);
  return { given, names: [given] };
}

function resourcesOf(resources: MessageObject): ResourceSubject {
  return {
    cpuPeriod: integer(resources['cpu_period']),
    cpuQuota: integer(resources['cpu_quota']),
    memoryLimitBytes: integer(resources['memory_limit_in_bytes']),
    unified: stringMap(resources['unified']),
  };
}

/** NamespaceMode NODE, the host's namespace: by number as decoded, by name in a converted view. */
function isHostNamespace(mode: unknown): boolean {
  return mode === 2 || mode === 'NODE';
}

function securityOf(of: 'sandbox' | 'container', context: MessageObject, mounts: unknown): SecuritySubject {
  const namespaces = messageAt(context, 'namespace_options') ?? {};
  const runAsUser = messageAt(context, 'run_as_user');
  const added = valueAt(context, 'capabilities.add_capabilities');
  return {
    kind: of,
    privileged: context['privileged'] === true,
    hostNetwork: isHostNamespace(namespaces['network']),
    hostPid: isHostNamespace(namespaces['pid']),
    hostIpc: isHostNamespace(namespaces['ipc']),
    addedCapabilities: Array.isArray(added) ? added.map(text) : [],
    runAsUser: runAsUser === undefined ? undefined : integer(runAsUser['value']),
    runAsUsername: text(context['run_as_username']),
    hostPaths: Array.isArray(mounts) ? mounts.map((mount) => text((mount as MessageObject)['host_path'])) : [],
  };
}

/**
 * Everything the rules read about one request, found where the method table
 * says the method keeps it. `request` is the message as protobufjs decoded
 * it; `view` makes the plain view custom rules read, only if one asks. The
 * image is resolved only when asked for (a look-up may reach the runtime).
 */
export async function policySubject(
  method: string,
  paths: PolicyPaths,
  request: MessageObject,
  view: () => MessageObject,
  lookups: PolicyLookups,
  resolveImage: boolean,
): Promise<PolicySubject> {
  const pod = await podOf(paths, request, lookups);
  // A missing ImageSpec is judged as an empty name, which no images rule passes.
  let image: ImageSubject | undefined;
  if (resolveImage && paths.image !== undefined) image = pulledImageOf(messageAt(request, paths.image) ?? {});
  else if (resolveImage && paths.localImage !== undefined) image = await localImageOf(messageAt(request, paths.localImage) ?? {}, lookups);
  const resources = paths.resources === undefined ? undefined : resourcesOf(messageAt(request, paths.resources) ?? {});
  const context = paths.securityContext;
  const security =
    context === undefined ? undefined : securityOf(context.of, messageAt(request, context.path) ?? {}, paths.mounts === undefined ? undefined : valueAt(request, paths.mounts));
  let plain: MessageObject | undefined;
  return {
    method,
    get request() {
      return (plain ??= view());
    },
    pod,
    image,
    resources,
    security,
  };
}
