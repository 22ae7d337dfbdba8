import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CriClient, Message } from './cri-client.js';

/** Marks the demo's pods, so that a later run finds what a killed one left behind. */
const DEMO_LABEL = { 'criscope-demo': 'sample' };
const NAMESPACE = 'criscope-demo';
const NAME = 'sample';

export interface DemoImages {
  /** Pulled from the loopback registry at start, as kubelet pulls a pod's image. */
  readonly pull: string;
  /** What the container runs (already in containerd). */
  readonly run: string;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The demo's one pod, driven through CRI with kubelet's calls in kubelet's order. */
export class SamplePod {
  private readonly uid = randomUUID();
  private readonly logDirectory: string;
  private readonly config: Message;
  private sandboxId: string | undefined;
  private containerId: string | undefined;

  constructor(
    private readonly client: CriClient,
    private readonly images: DemoImages,
    logRoot: string,
    private readonly say: (line: string) => void,
  ) {
    // kubelet's layout: <root>/<namespace>_<name>_<uid>/<container>/<attempt>.log
    this.logDirectory = join(logRoot, `${NAMESPACE}_${NAME}_${this.uid}`);
    this.config = {
      metadata: { name: NAME, namespace: NAMESPACE, uid: this.uid, attempt: 0 },
      log_directory: this.logDirectory,
      labels: DEMO_LABEL,
      // Host network: the private containerd needs no CNI for it.
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
  }

  async start(): Promise<void> {
    const version = await this.client.call<{ runtime_name: string; runtime_version: string }>('Version', { version: 'v1' });
    this.say(`runtime is ${version.runtime_name} ${version.runtime_version}`);
    await this.client.call('PullImage', { image: { image: this.images.pull }, sandbox_config: this.config });
    mkdirSync(this.logDirectory, { recursive: true });
    const sandbox = await this.client.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: this.config });
    this.sandboxId = sandbox.pod_sandbox_id;
    const container = await this.client.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: this.sandboxId,
      config: { metadata: { name: 'app', attempt: 0 }, image: { image: this.images.run }, command: ['sleep', '3600'], log_path: 'app/0.log' },
      sandbox_config: this.config,
    });
    this.containerId = container.container_id;
    await this.client.call('StartContainer', { container_id: this.containerId });
    const exec = await this.client.call<{ stdout: string; exit_code: number }>('ExecSync', {
      container_id: this.containerId,
      cmd: ['sh', '-c', 'echo hello from $(hostname)'],
      timeout: 10,
    });
    this.say(`exec in the container printed "${Buffer.from(exec.stdout, 'base64').toString().trim()}" (exit ${exec.exit_code})`);
    await this.relistStatus();
  }

  /** kubelet's PLEG relist: list every container, then ask for the status of its own. */
  async relist(): Promise<void> {
    await this.client.call('ListContainers', { filter: {} });
    await this.relistStatus();
  }

  /** Stops and removes container and pod, kubelet's way; every step runs even if one fails. True when all succeeded. */
  async remove(): Promise<boolean> {
    let clean = true;
    const step = async (method: string, request: Message): Promise<void> => {
      try {
        await this.client.call(method, request);
      } catch (error) {
        clean = false;
        this.say(`${method} failed: ${errorText(error)}`);
      }
    };
    if (this.containerId !== undefined) {
      // `sleep` as pid 1 ignores SIGTERM: a 1 s grace period instead of kubelet's 30 s keeps the exit quick.
      await step('StopContainer', { container_id: this.containerId, timeout: 1 });
      await step('RemoveContainer', { container_id: this.containerId });
    }
    if (this.sandboxId !== undefined) {
      await step('StopPodSandbox', { pod_sandbox_id: this.sandboxId });
      await step('RemovePodSandbox', { pod_sandbox_id: this.sandboxId });
    }
    rmSync(this.logDirectory, { recursive: true, force: true });
    return clean;
  }

  private async relistStatus(): Promise<void> {
    if (this.containerId === undefined) return;
    await this.client.call('ContainerStatus', { container_id: this.containerId });
  }
}

/** Removes the pods (found by label) and log directories an earlier, killed run left behind; returns how many pods. */
export async function removeLeftoverPods(client: CriClient, logRoot: string): Promise<number> {
  const { items } = await client.call<{ items: { id: string }[] }>('ListPodSandbox', { filter: { label_selector: DEMO_LABEL } });
  for (const { id } of items) {
    // CRI: stopping a sandbox stops its containers, and removing it removes them.
    await client.call('StopPodSandbox', { pod_sandbox_id: id });
    await client.call('RemovePodSandbox', { pod_sandbox_id: id });
  }
  rmSync(logRoot, { recursive: true, force: true });
  return items.length;
}
