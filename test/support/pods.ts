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
