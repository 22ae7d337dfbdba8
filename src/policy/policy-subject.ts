import type { PolicyPaths } from '../cri/method-specs.js';
import { parseImageReference } from './images/image-reference.js';
import type { ImageSubject, MessageObject, PodIdentity, PolicySubject, ResourceSubject, SecuritySubject } from './types.js';

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

/** An image id as kubelet passes it to CreateContainer: "sha256:<hex>", or the bare hex. */
const IMAGE_ID = /^(sha256:)?[0-9a-f]{64}$/;

/** The value at a dotted path of a decoded message; undefined where a message on the way is absent. */
export function valueAt(message: MessageObject, path: string): unknown {
  let value: unknown = message;
  for (const segment of path.split('.')) {
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

async function podOf(paths: PolicyPaths, request: MessageObject, lookups: PolicyLookups): Promise<PodIdentity> {
  const config = paths.podConfig === undefined ? undefined : messageAt(request, paths.podConfig);
  if (config !== undefined) return podOfConfig(config);
  const sandboxId = paths.sandboxId === undefined ? '' : text(valueAt(request, paths.sandboxId));
  if (sandboxId !== '') return (await lookups.podOfSandbox(sandboxId)) ?? UNKNOWN_POD;
  const containerId = paths.containerId === undefined ? '' : text(valueAt(request, paths.containerId));
  if (containerId !== '') return (await lookups.podOfContainer(containerId)) ?? UNKNOWN_POD;
  return UNKNOWN_POD;
}

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
 * The names an image is judged by. A name is judged as given. For an image
 * id, kubelet's user_specified_image is judged, once the runtime confirms
 * the id goes by that name (else any client could name an allowed image
 * beside the id of another); without one, every name the runtime knows the
 * id by.
 */
async function imageOf(spec: MessageObject, lookups: PolicyLookups): Promise<ImageSubject> {
  const given = text(spec['image']);
  if (!IMAGE_ID.test(given)) return { given, names: [given] };
  let names: readonly string[];
  try {
    names = await lookups.imageNames(given);
  } catch (error) {
    return { given, names: [], unresolved: (error as Error).message };
  }
  if (names.length === 0) return { given, names, unresolved: 'the runtime knows it by no name' };
  const userSpecified = text(spec['user_specified_image']);
  if (userSpecified === '') return { given, names };
  if (!isOneOf(userSpecified, names)) return { given, names: [], unresolved: `the runtime does not know it as "${userSpecified}"` };
  return { given, names: [userSpecified] };
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
  const image = resolveImage && paths.image !== undefined ? await imageOf(messageAt(request, paths.image) ?? {}, lookups) : undefined;
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
