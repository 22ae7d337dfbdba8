import type { CallObserver, CallRecord } from '../cri/call-record.js';
import { decompressed } from '../cri/decode-call.js';
import type { CriMethod } from '../cri/method-table.js';
import { toMessageObject, type MessageObject } from '../cri/message-object.js';
import { podOfConfig, type PolicyLookups } from '../policy/policy-subject.js';
import type { RuntimeClient } from './runtime-client.js';
import type { PodIdentity } from '../cri/pod-identity.js';

/** How long one look-up may wait for the runtime: it holds a call kubelet is waiting on. */
const LOOKUP_TIMEOUT_MS = 2000;
const MAX_PODS = 4096;
const MAX_CONTAINERS = 16_384;
const MAX_IMAGES = 1024;

/** A map that forgets its oldest entries past a size, so a busy node cannot grow it without bound. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    this.delete(key);
    super.set(key, value);
    if (this.size > this.limit) this.delete(this.keys().next().value as K);
    return this;
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function texts(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function object(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/**
 * What policy needs to know about pods, containers and images, learnt from
 * the calls criscope relays (a RunPodSandbox names the pod of a sandbox, a
 * CreateContainer the sandbox of a container) and asked of the runtime when
 * missing. Images are cached by id until a pull or removal may change their
 * names.
 */
export class RuntimeDirectory implements PolicyLookups, CallObserver {
  private readonly pods = new BoundedMap<string, PodIdentity>(MAX_PODS);
  private readonly containers = new BoundedMap<string, string>(MAX_CONTAINERS);
  private readonly images = new BoundedMap<string, readonly string[]>(MAX_IMAGES);
  /** Look-ups on their way to the runtime, shared by calls that ask the same. */
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly runtime: RuntimeClient,
    /** Where ImageService is served: the runtime's socket, or an image endpoint of its own. */
    private readonly imageService: RuntimeClient,
    /** Messages up to this size are decoded when learning from a call. */
    private readonly maxMessageBytes: number,
  ) {}

  async podOfSandbox(sandboxId: string): Promise<PodIdentity | undefined> {
    const known = this.pods.get(sandboxId);
    if (known !== undefined) return known;
    return this.once(`pod:${sandboxId}`, async () => {
      const response = await this.runtime.call('RuntimeService', 'PodSandboxStatus', { pod_sandbox_id: sandboxId }, LOOKUP_TIMEOUT_MS).catch(notFoundAsUndefined);
      if (response === undefined) return undefined;
      const status = object(response['status']);
      if (status['metadata'] === undefined || status['metadata'] === null) return undefined;
      const pod = podOfConfig(status);
      this.pods.set(sandboxId, pod);
      return pod;
    });
  }

  async podOfContainer(containerId: string): Promise<PodIdentity | undefined> {
    let sandboxId = this.containers.get(containerId);
    if (sandboxId === undefined) {
      sandboxId = await this.once(`container:${containerId}`, async () => {
        const response = await this.runtime.call('RuntimeService', 'ListContainers', { filter: { id: containerId } }, LOOKUP_TIMEOUT_MS);
        const [container] = Array.isArray(response['containers']) ? (response['containers'] as unknown[]) : [];
        const found = text(object(container)['pod_sandbox_id']);
        if (found === '') return undefined;
        this.containers.set(containerId, found);
        return found;
      });
    }
    return sandboxId === undefined ? undefined : this.podOfSandbox(sandboxId);
  }

  async imageNames(image: string): Promise<readonly string[]> {
    const known = this.images.get(image);
    if (known !== undefined) return known;
    return this.once(`image:${image}`, async () => {
      const response = await this.imageService.call('ImageService', 'ImageStatus', { image: { image } }, LOOKUP_TIMEOUT_MS);
      const found = object(response['image']);
      if (text(found['id']) === '') throw new Error('the runtime does not have this image');
      const names = [...texts(found['repo_tags']), ...texts(found['repo_digests'])];
      this.images.set(image, names);
      return names;
    });
  }

  /** Learns from every successful call that changes what the directory knows. */
  onCall(record: CallRecord): void {
    const method = record.method;
    if (method === undefined || record.code !== 0) return;
    switch (method.name) {
      case 'RunPodSandbox': {
        const sandboxId = record.identity.sandboxId;
        const config = this.request(method, record)?.['config'];
        if (sandboxId !== undefined && config !== undefined) this.pods.set(sandboxId, podOfConfig(config as MessageObject));
        break;
      }
      case 'CreateContainer': {
        const { containerId, sandboxId } = record.identity;
        if (containerId !== undefined && sandboxId !== undefined) this.containers.set(containerId, sandboxId);
        break;
      }
      case 'RemoveContainer':
        if (record.identity.containerId !== undefined) this.containers.delete(record.identity.containerId);
        break;
      case 'RemovePodSandbox':
        if (record.identity.sandboxId !== undefined) this.pods.delete(record.identity.sandboxId);
        break;
      case 'PullImage':
      case 'RemoveImage':
        // A pull may give an image id a new tag, a removal take one away: ids are cheap to ask again.
        this.images.clear();
        break;
    }
  }

  private request(method: CriMethod, record: CallRecord): MessageObject | undefined {
    const first = record.request.first;
    if (first === undefined) return undefined;
    try {
      return toMessageObject(method.requestType, method.requestType.decode(decompressed(first, record.request.encoding, this.maxMessageBytes)));
    } catch {
      // The relay already counted it as a decode failure; policy will ask the runtime instead.
      return undefined;
    }
  }

  private once<T>(key: string, lookUp: () => Promise<T>): Promise<T> {
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending as Promise<T>;
    const started = lookUp().finally(() => this.pending.delete(key));
    this.pending.set(key, started);
    return started;
  }
}

/** gRPC NOT_FOUND: the runtime does not know the sandbox. */
function notFoundAsUndefined(error: { code?: number }): undefined {
  if (error.code === 5) return undefined;
  throw error as Error;
}
