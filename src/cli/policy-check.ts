import type { Writable } from 'node:stream';
import type { Config } from '../config/schema.js';
import { unixSocketPath } from '../config/endpoint.js';
import { loadPolicy } from '../config/load-policy.js';
import { loadCriProto } from '../cri/proto-root.js';
import { buildMethodTable, type CriMethod, type MethodTable } from '../cri/method-table.js';
import { ConfigError } from '../errors.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { discoverRuntimeEndpoint } from '../runtime/discover.js';
import { RuntimeClient } from '../runtime/runtime-client.js';
import { RuntimeDirectory } from '../runtime/runtime-directory.js';
import type { PolicyDecision } from '../cri/policy-decision.js';

const CALL_TIMEOUT_MS = 10_000;

type Message = Record<string, unknown>;

function object(value: unknown): Message {
  return typeof value === 'object' && value !== null ? (value as Message) : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '?';
}

function list(value: unknown): Message[] {
  return Array.isArray(value) ? value.map(object) : [];
}

/**
 * The config the runtime keeps for a sandbox or container, from its verbose
 * status: containerd keeps the whole CRI config there ("config"). Without it,
 * what the status itself says stands in (less: no security context).
 */
function verboseConfig(response: Message): Message | undefined {
  const info = object(response['info'])['info'];
  if (typeof info !== 'string') return undefined;
  try {
    const config = object(JSON.parse(info) as unknown)['config'];
    return typeof config === 'object' && config !== null ? (config as Message) : undefined;
  } catch {
    return undefined;
  }
}

/** What a ContainerStatus says, as much of a ContainerConfig as it gives. */
function configFromStatus(status: Message): Message {
  const resources = object(status['resources'])['linux'];
  return {
    metadata: status['metadata'],
    image: { image: object(status['image'])['image'], user_specified_image: object(status['image'])['user_specified_image'] },
    labels: status['labels'],
    annotations: status['annotations'],
    mounts: status['mounts'],
    linux: resources === undefined ? undefined : { resources },
  };
}

function method(table: MethodTable, name: string): CriMethod {
  const found = table.lookup(`/runtime.v1.RuntimeService/${name}`);
  if (found === undefined) throw new Error(`the CRI proto has no method ${name}`);
  return found;
}

/** Encodes a request from the runtime's own (JSON) view of it, as kubelet would have sent it. */
function encodeRequest(criMethod: CriMethod, request: Message): Buffer {
  const type = criMethod.requestType;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

function describeFindings(decision: PolicyDecision): string[] {
  return decision.findings.map((finding) => `    ${finding.mode === 'audit' ? 'audit ' : ''}${finding.action} "${finding.rule}": ${finding.reason}`);
}

/**
 * `criscope policy check`: judges what runs on the node now (each pod sandbox
 * as its RunPodSandbox, each container as its CreateContainer) and reports
 * what the policy would deny or clamp. Returns 1 when anything would be
 * denied, else 0.
 */
export async function checkPolicy(config: Config, out: Writable): Promise<number> {
  if (config.policyFile === undefined) throw new ConfigError('command-line flags', [{ field: 'policyFile', reason: 'policy check needs a policy file (--policy or policyFile)' }]);
  const policy = loadPolicy(config.policyFile);
  const endpoint = config.runtimeEndpoint ?? (await discoverRuntimeEndpoint());
  const table = buildMethodTable(loadCriProto());
  const runtime = new RuntimeClient(unixSocketPath(endpoint) as string, table);
  const images = config.imageEndpoint === undefined ? runtime : new RuntimeClient(unixSocketPath(config.imageEndpoint) as string, table);
  const engine = new PolicyEngine(policy, new RuntimeDirectory(runtime, images, config.maxMessageBytes));
  const runPodSandbox = method(table, 'RunPodSandbox');
  const createContainer = method(table, 'CreateContainer');
  let denied = 0;
  let judged = 0;
  const report = async (what: string, criMethod: CriMethod, request: Message): Promise<void> => {
    judged++;
    const { decision } = await engine.judge(criMethod, encodeRequest(criMethod, request), undefined, true);
    if (decision.findings.length === 0) return;
    const verdict = decision.denial !== undefined ? 'DENY' : decision.clamps.length > 0 ? 'CLAMP' : 'AUDIT';
    if (decision.denial !== undefined) denied++;
    out.write(`${verdict} ${what}\n${describeFindings(decision).join('\n')}\n`);
  };
  try {
    const sandboxConfigs = new Map<string, Message>();
    const sandboxes = list((await runtime.call('RuntimeService', 'ListPodSandbox', {}, CALL_TIMEOUT_MS))['items']);
    for (const sandbox of sandboxes) {
      const id = text(sandbox['id']);
      const status = await runtime.call('RuntimeService', 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true }, CALL_TIMEOUT_MS);
      const sandboxConfig = verboseConfig(status) ?? { metadata: sandbox['metadata'], labels: sandbox['labels'], annotations: sandbox['annotations'] };
      sandboxConfigs.set(id, sandboxConfig);
      const meta = object(sandbox['metadata']);
      await report(`pod ${text(meta['namespace'])}/${text(meta['name'])} (sandbox ${id.slice(0, 13)})`, runPodSandbox, { config: sandboxConfig });
    }
    const containers = list((await runtime.call('RuntimeService', 'ListContainers', {}, CALL_TIMEOUT_MS))['containers']);
    for (const container of containers) {
      const id = text(container['id']);
      const sandboxId = text(container['pod_sandbox_id']);
      const status = await runtime.call('RuntimeService', 'ContainerStatus', { container_id: id, verbose: true }, CALL_TIMEOUT_MS);
      const containerConfig = verboseConfig(status) ?? configFromStatus(object(status['status']));
      const sandboxConfig = sandboxConfigs.get(sandboxId);
      const pod = object(sandboxConfig?.['metadata']);
      const name = text(object(container['metadata'])['name']);
      await report(`container ${text(pod['namespace'])}/${text(pod['name'])}/${name} (${id.slice(0, 13)})`, createContainer, {
        pod_sandbox_id: sandboxId,
        config: containerConfig,
        sandbox_config: sandboxConfig,
      });
    }
    out.write(`${judged} pod sandboxes and containers judged against ${config.policyFile}: ${denied} would be denied\n`);
  } finally {
    runtime.close();
    if (images !== runtime) images.close();
  }
  return denied > 0 ? 1 : 0;
}
