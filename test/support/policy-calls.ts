import { strict as assert } from 'node:assert';
import { after, before } from 'node:test';
import { CriTestClient, statusOf, type Message } from './cri-client.js';
import { startCriscope, type CriscopeProcess } from './criscope-process.js';
import { scrape, total } from './metrics-scrape.js';
import { policyFile } from './policy-env.js';
import { hostNetworkPodConfig } from './pods.js';
import type { RawExchange } from './raw-h2.js';

export const PERMISSION_DENIED = 7;
export const MIB = 1024 * 1024;

/** What a denied (or otherwise failed) call gave the client: its status code and message. */
export async function rejection(call: Promise<unknown>): Promise<{ code: number | undefined; details: string }> {
  try {
    await call;
  } catch (error) {
    return { code: statusOf(error), details: (error as { details?: string }).details ?? '' };
  }
  throw new Error('the call succeeded');
}

/** The grpc-status and (percent-decoded) grpc-message of a raw call, from its trailers or a trailers-only answer. */
export function rawStatus(exchange: RawExchange): { code: number; message: string } {
  const status = exchange.trailers?.['grpc-status'] ?? exchange.headers['grpc-status'];
  const message = exchange.trailers?.['grpc-message'] ?? exchange.headers['grpc-message'] ?? '';
  if (status === undefined) throw new Error(`no grpc-status came back (HTTP/2 reset code ${exchange.rstCode})`);
  return { code: Number(status), message: decodeURIComponent(String(message)) };
}

/** A pod sandbox run directly on the runtime (not through criscope), with the config kubelet would send along. */
export interface TestPod {
  readonly id: string;
  readonly config: Message;
}

/**
 * Runs host-network pods directly on the runtime, all at once, each in its
 * namespace (default criscope-e2e) with its labels added; a privileged pod
 * may hold privileged containers. Remove them with removePods.
 */
export async function runPods(
  direct: CriTestClient,
  specs: readonly { name: string; namespace?: string; labels?: Record<string, string>; privileged?: boolean }[],
): Promise<TestPod[]> {
  return Promise.all(
    specs.map(async ({ name, namespace, labels, privileged }) => {
      const config = hostNetworkPodConfig(name);
      if (namespace !== undefined) (config['metadata'] as Message)['namespace'] = namespace;
      if (labels !== undefined) config['labels'] = { ...(config['labels'] as Record<string, string>), ...labels };
      // containerd refuses a privileged container in a sandbox that is not privileged itself (kubelet marks it so).
      if (privileged === true) ((config['linux'] as Message)['security_context'] as Message)['privileged'] = true;
      const { pod_sandbox_id: id } = (await direct.call('RunPodSandbox', { config })) as { pod_sandbox_id: string };
      return { id, config };
    }),
  );
}

/** Stops and removes the pods (and with them their containers), ignoring ones already gone. */
export async function removePods(direct: CriTestClient, pods: readonly TestPod[]): Promise<void> {
  await Promise.all(
    pods.map(async ({ id }) => {
      await direct.call('StopPodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      await direct.call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
    }),
  );
}

/** A CreateContainer request for a busybox container in `pod`, as kubelet would send it; `extra` adds to the config. */
export function containerRequest(pod: TestPod, image: string, name: string, extra: Message = {}): Message {
  return {
    pod_sandbox_id: pod.id,
    config: { metadata: { name }, image: { image }, command: ['sleep', '3600'], log_path: `${name}.log`, ...extra },
    sandbox_config: pod.config,
  };
}

/** The names of the containers the runtime has in a pod. */
export async function containerNames(direct: CriTestClient, pod: TestPod): Promise<string[]> {
  const { containers } = (await direct.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })) as { containers: Message[] };
  return containers.map((container) => String((container['metadata'] as Message)['name'])).sort();
}

/** The CRI config containerd keeps for a container (its verbose status' info.config). */
export async function storedConfigOf(direct: CriTestClient, containerId: string): Promise<Message> {
  const status = (await direct.call('ContainerStatus', { container_id: containerId, verbose: true })) as { info: Record<string, string> };
  return (JSON.parse(status.info['info'] ?? '{}') as { config?: Message }).config ?? {};
}

/** Pulls the image directly on the runtime unless it is there already. */
export async function ensureImage(direct: CriTestClient, image: string): Promise<void> {
  const { image: present } = (await direct.call('ImageStatus', { image: { image } })) as { image: Message | null };
  if (present === null) await direct.call('PullImage', { image: { image } });
}

/** The value of `name` summed over samples with these labels, scraped from criscope's /metrics now. */
export async function metric(httpUrl: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  return total(await scrape(httpUrl), name, labels);
}

export interface PolicyFixture {
  /** The policy file criscope was started with (rewrite it with writePolicy). */
  readonly path: string;
  readonly criscope: CriscopeProcess;
  /** A CRI client on criscope's socket. */
  readonly client: CriTestClient;
}

/**
 * For the enclosing describe: criscope in front of `runtimeSocket` with
 * `policy` written to a fresh policy file, and a client on its socket;
 * criscope must exit 0 on SIGTERM after the tests.
 */
export function criscopeWithPolicy(runtimeSocket: string, policy: Record<string, unknown>): PolicyFixture {
  const path = policyFile(policy);
  let started: { criscope: CriscopeProcess; client: CriTestClient } | undefined;
  before(async () => {
    const criscope = await startCriscope({ runtimeSocket, config: { policyFile: path } });
    started = { criscope, client: new CriTestClient(criscope.socketPath) };
  });
  after(async () => {
    if (started === undefined) return;
    started.client.close();
    assert.equal(await started.criscope.stop(), 0, 'criscope exits 0 on SIGTERM');
  });
  const get = (): { criscope: CriscopeProcess; client: CriTestClient } => {
    if (started === undefined) throw new Error('the policy fixture is used before its before() hook ran');
    return started;
  };
  return {
    path,
    get criscope() {
      return get().criscope;
    },
    get client() {
      return get().client;
    },
  };
}
