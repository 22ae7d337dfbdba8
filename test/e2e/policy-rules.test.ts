import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { CriTestClient, type Message } from '../support/cri-client.js';
import { hostMemoryLimit, policyFile, runtimeSpecOf } from '../support/policy-env.js';
import { containerNames, containerRequest, criscopeWithPolicy, ensureImage, MIB, PERMISSION_DENIED, rejection, removePods, runPods, storedConfigOf, type TestPod } from '../support/policy-calls.js';
import { testRuntime } from '../support/runtime-env.js';

const runtime = testRuntime();
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** The test images' repository on the loopback registry. */
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));

const direct = new CriTestClient(runtime.containerdSocket);
let pod: TestPod;
let imageId = '';

before(async () => {
  await ensureImage(direct, runtime.busyboxImage);
  const { image } = (await direct.call('ImageStatus', { image: { image: runtime.busyboxImage } })) as { image: Message };
  imageId = String(image['id']);
  [pod] = await runPods(direct, [{ name: 'rules', privileged: true }]);
});

after(async () => {
  if (pod !== undefined) await removePods(direct, [pod]);
  direct.close();
});

const memoryLimit = (bytes: number): Message => ({ linux: { resources: { memory_limit_in_bytes: bytes } } });

describe('resources with action deny', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, { rules: [{ kind: 'resources', maxMemory: '64Mi', action: 'deny' }] });

  it('denies a container above the memory cap and leaves none behind', async () => {
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(pod, runtime.busyboxImage, 'deny-big', memoryLimit(512 * MIB))));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "resources.memory": memory limit 512Mi is above the cap of 64Mi');
    assert.ok(!(await containerNames(direct, pod)).includes('deny-big'));
  });

  it('denies a resize above the cap: the running container keeps its limit, as its cgroup on the host shows', async () => {
    const { container_id: id } = (await fixture.client.call('CreateContainer', containerRequest(pod, runtime.busyboxImage, 'resized', memoryLimit(32 * MIB)))) as {
      container_id: string;
    };
    await fixture.client.call('StartContainer', { container_id: id });
    const { pid } = await runtimeSpecOf(direct, id);
    assert.equal(hostMemoryLimit(pid), 32 * MIB);

    const { code, details } = await rejection(fixture.client.call('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 1024 * MIB } }));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "resources.memory": memory limit 1Gi is above the cap of 64Mi');
    assert.equal(hostMemoryLimit(pid), 32 * MIB, 'the denied resize never reached the runtime');

    await fixture.client.call('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 48 * MIB } });
    assert.equal(hostMemoryLimit(pid), 48 * MIB, 'a resize within the cap goes through');
  });
});

describe('a container created from an image id is judged by the names the runtime knows it by', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, { rules: [{ kind: 'images', allowed: [`${TEST_REPOSITORY}/busybox:1.*`] }] });

  it('creates a container from the id of an image whose tag is allowed', async () => {
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
    const { container_id: id } = (await fixture.client.call('CreateContainer', containerRequest(pod, imageId, 'by-id'))) as { container_id: string };
    assert.equal(((await storedConfigOf(direct, id))['image'] as Message)['image'], imageId, 'containerd was given the id, as kubelet gives it');
  });

  it('denies a user_specified_image the id does not go by, however allowed the name: no naming a good image beside another id', async () => {
    const status = (await direct.call('ImageStatus', { image: { image: runtime.pauseImage } })) as { image: Message };
    const pauseId = String(status.image['id']);
    const request = containerRequest(pod, pauseId, 'by-id-user-specified');
    (request['config'] as Message)['image'] = { image: pauseId, user_specified_image: runtime.busyboxImage };
    const { code, details } = await rejection(fixture.client.call('CreateContainer', request));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, `criscope policy "images.resolve": image "${pauseId}" could not be resolved to a name: the runtime does not know it as "${runtime.busyboxImage}"`);
    assert.ok(!(await containerNames(direct, pod)).includes('by-id-user-specified'));
  });

  it('creates a container from an id when kubelet names it by a name it goes by', async () => {
    const request = containerRequest(pod, imageId, 'by-id-named');
    (request['config'] as Message)['image'] = { image: imageId, user_specified_image: runtime.busyboxImage };
    const { container_id: id } = (await fixture.client.call('CreateContainer', request)) as { container_id: string };
    assert.match(id, /^[0-9a-f]{64}$/);
  });

  it('denies an image id the runtime does not know', async () => {
    const unknownId = `sha256:${'0'.repeat(64)}`;
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(pod, unknownId, 'by-unknown-id')));
    assert.equal(code, PERMISSION_DENIED);
    assert.ok(details.startsWith(`criscope policy "images.resolve": image "${unknownId}" could not be resolved to a name: `), details);
  });
});

describe('an image id whose names the allowed list excludes', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, { rules: [{ kind: 'images', allowed: [`${TEST_REPOSITORY}/pause:*`] }] });

  it('is denied, naming the image by its tag', async () => {
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(pod, imageId, 'excluded-by-id')));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, `criscope policy "images.allowed": image "${runtime.busyboxImage}" is not in an allowed registry or repository`);
    assert.ok(!(await containerNames(direct, pod)).includes('excluded-by-id'));
  });
});

/** Runs `criscope policy check --config <file>` and resolves with what it printed and its exit code. */
function policyCheck(policy: Record<string, unknown>): Promise<{ code: number | null; stdout: string; stderr: string; policyPath: string }> {
  const policyPath = policyFile(policy);
  const configPath = join(mkdtempSync(join(tmpdir(), 'criscope-check-')), 'criscope.yaml');
  writeFileSync(configPath, toYaml({ runtimeEndpoint: `unix://${runtime.containerdSocket}`, policyFile: policyPath }));
  const child = spawn(process.execPath, [MAIN, 'policy', 'check', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr, policyPath })));
}

describe('criscope policy check, over what runs on the runtime now', () => {
  let containerId = '';

  before(async () => {
    // Created straight on containerd: the dry run must find it whatever created it.
    const request = containerRequest(pod, runtime.busyboxImage, 'check-privileged', { linux: { security_context: { privileged: true } } });
    ({ container_id: containerId } = (await direct.call('CreateContainer', request)) as { container_id: string });
  });

  it('names the privileged container and the rule it breaks, and exits 1', async () => {
    const { code, stdout, stderr, policyPath } = await policyCheck({ rules: [{ kind: 'security', denyPrivileged: true }] });
    assert.equal(code, 1, stdout + stderr);
    const lines = stdout.split('\n');
    const at = lines.indexOf(`DENY container criscope-e2e/rules/check-privileged (${containerId.slice(0, 13)})`);
    assert.ok(at >= 0, stdout);
    assert.equal(lines[at + 1], '    deny "security.privileged": the container is privileged');
    assert.ok(lines.includes(`DENY pod criscope-e2e/rules (sandbox ${pod.id.slice(0, 13)})`), 'the privileged sandbox is reported too');
    assert.match(stdout, new RegExp(`judged against ${policyPath}: [2-9]\\d* would be denied\\n$`));
  });

  it('exits 0 when nothing running breaks the policy', async () => {
    const { code, stdout, stderr, policyPath } = await policyCheck({
      // Scoped to this test's pod, so that pods other tests (or an interrupted run) left behind do not count.
      rules: [{ kind: 'security', denyHostIPC: true, match: { podSelector: { matchLabels: { app: 'rules' } } } }],
    });
    assert.equal(code, 0, stdout + stderr);
    assert.doesNotMatch(stdout, /^DENY/m);
    assert.match(stdout, new RegExp(`^([2-9]|\\d{2,}) pod sandboxes and containers judged against ${policyPath}: 0 would be denied\\n$`, 'm'));
  });
});
