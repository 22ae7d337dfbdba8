import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { CriTestClient, statusOf, type Message } from '../support/cri-client.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { hostNetworkPodConfig } from '../support/pods.js';
import { hostMemoryLimit, policyFile, runtimeSpecOf } from '../support/policy-env.js';
import { testRuntime } from '../support/runtime-env.js';

const runtime = testRuntime();
const MIB = 1024 * 1024;
const PERMISSION_DENIED = 7;

/** The test images' repository on the loopback registry. */
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));

async function rejection(call: Promise<unknown>): Promise<{ code: number | undefined; details: string }> {
  try {
    await call;
  } catch (error) {
    return { code: statusOf(error), details: (error as { details?: string }).details ?? '' };
  }
  throw new Error('the call succeeded');
}

async function imageIds(client: CriTestClient): Promise<string[]> {
  const { images } = (await client.call('ListImages', {})) as { images: Message[] };
  return images.map((image) => String(image['id'])).sort();
}

describe('policy enforced before calls reach the real containerd', () => {
  const path = policyFile({
    mode: 'enforce',
    rules: [
      { kind: 'images', allowed: [`${TEST_REPOSITORY}/pause:*`, `${TEST_REPOSITORY}/busybox:1.*`] },
      { kind: 'security', denyPrivileged: true },
      { kind: 'resources', maxMemory: '64Mi', action: 'clamp' },
    ],
  });
  let criscope: CriscopeProcess;
  let client: CriTestClient;
  const direct = new CriTestClient(runtime.containerdSocket);
  let sandboxId = '';
  const sandboxConfig = hostNetworkPodConfig('policy');

  before(async () => {
    criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, config: { policyFile: path } });
    client = new CriTestClient(criscope.socketPath);
    ({ pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config: sandboxConfig })) as { pod_sandbox_id: string });
  });

  after(async () => {
    await direct.call('StopPodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    await direct.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    client.close();
    direct.close();
    assert.equal(await criscope.stop(), 0);
  });

  const container = (name: string, extra: Message = {}): Message => ({
    pod_sandbox_id: sandboxId,
    config: { metadata: { name }, image: { image: runtime.busyboxImage }, command: ['sleep', '3600'], log_path: `${name}.log`, ...extra },
    sandbox_config: sandboxConfig,
  });

  it('denies a pull of an image outside the allowed list: the runtime never sees it, its image list is unchanged', async () => {
    await direct.call('RemoveImage', { image: { image: runtime.pullOnlyImage } }).catch(() => undefined);
    const before = await imageIds(direct);
    const { code, details } = await rejection(client.call('PullImage', { image: { image: runtime.pullOnlyImage }, sandbox_config: sandboxConfig }));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, `criscope policy "images.allowed": image "${runtime.pullOnlyImage}" is not in an allowed registry or repository`);
    assert.deepEqual(await imageIds(direct), before);
  });

  it('lets an allowed pull through to the loopback registry', async () => {
    const pulled = (await client.call('PullImage', { image: { image: runtime.busyboxImage }, sandbox_config: sandboxConfig })) as { image_ref: string };
    assert.match(pulled.image_ref, /^sha256:[0-9a-f]{64}$/);
  });

  it('denies a privileged container and leaves no container behind', async () => {
    const { code, details } = await rejection(client.call('CreateContainer', container('privileged', { linux: { security_context: { privileged: true } } })));
    assert.equal(code, PERMISSION_DENIED);
    assert.match(details, /^criscope policy "security\.privileged": the container is privileged/);
    const { containers } = (await direct.call('ListContainers', { filter: { pod_sandbox_id: sandboxId } })) as { containers: Message[] };
    assert.deepEqual(containers, []);
  });

  it('clamps a memory limit above the cap: the runtime creates the container with the cap, and the kernel enforces it', async () => {
    const { container_id: containerId } = (await client.call('CreateContainer', container('clamped', { linux: { resources: { memory_limit_in_bytes: 512 * MIB } } }))) as {
      container_id: string;
    };
    await client.call('StartContainer', { container_id: containerId });
    const { spec, pid } = await runtimeSpecOf(direct, containerId);
    const memory = ((spec['linux'] as Message)['resources'] as Message)['memory'] as Message;
    assert.equal(memory['limit'], 64 * MIB);
    assert.equal(hostMemoryLimit(pid), 64 * MIB);

    await client.call('UpdateContainerResources', { container_id: containerId, linux: { memory_limit_in_bytes: 1024 * MIB } });
    assert.equal(hostMemoryLimit(pid), 64 * MIB, 'a resize above the cap is clamped too');
    await direct.call('StopContainer', { container_id: containerId, timeout: 1 });
  });
});
