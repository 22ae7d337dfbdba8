import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { CriTestClient, Message } from './cri-client.js';

/** Writes a policy file in a fresh directory; returns its path (rewrite it with writePolicy to test reloads). */
export function policyFile(policy: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-policy-')), 'policy.yaml');
  writePolicy(path, policy);
  return path;
}

export function writePolicy(path: string, policy: Record<string, unknown>): void {
  writeFileSync(path, toYaml(policy));
}

/** The container's OCI spec, as containerd reports it in a verbose ContainerStatus. */
export async function runtimeSpecOf(client: CriTestClient, containerId: string): Promise<{ spec: Message; pid: number }> {
  const status = (await client.call('ContainerStatus', { container_id: containerId, verbose: true })) as { info: Record<string, string> };
  const info = JSON.parse(status.info['info'] ?? '{}') as { runtimeSpec?: Message; pid?: number };
  return { spec: info.runtimeSpec ?? {}, pid: info.pid ?? 0 };
}

/** The memory limit the kernel enforces on a running process (cgroup v1 memory controller, as on these hosts). */
export function hostMemoryLimit(pid: number): number {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((entry) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(entry));
  if (line === undefined) throw new Error(`process ${pid} has no memory cgroup (cgroup v1 expected)`);
  const path = line.slice(line.lastIndexOf(':') + 1);
  return Number(readFileSync(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`, 'utf8').trim());
}
