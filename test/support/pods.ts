import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from './cri-client.js';

/** A host-network pod's sandbox config, as kubelet would describe it (no CNI needed), with a fresh uid. */
export function hostNetworkPodConfig(name: string): Message {
  return {
    metadata: { name, uid: randomUUID(), namespace: 'criscope-e2e', attempt: 0 },
    log_directory: mkdtempSync(join(tmpdir(), 'criscope-pod-logs-')),
    labels: { app: name },
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/** What creating and starting a container needs of a CRI client (the tests' CriTestClient). */
interface CriCaller {
  call(name: string, request?: Message): Promise<Message>;
}

/** Creates and starts a container that sleeps for an hour in the pod's sandbox, as kubelet would; returns its id. */
export async function startSleeper(client: CriCaller, sandboxId: string, sandboxConfig: Message, image: string, name = 'app'): Promise<string> {
  const { container_id: containerId } = (await client.call('CreateContainer', {
    pod_sandbox_id: sandboxId,
    config: { metadata: { name }, image: { image }, command: ['sleep', '3600'], log_path: `${name}.log` },
    sandbox_config: sandboxConfig,
  })) as { container_id: string };
  await client.call('StartContainer', { container_id: containerId });
  return containerId;
}
