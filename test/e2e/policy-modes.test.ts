import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { CriTestClient, type Message } from '../support/cri-client.js';
import { hostMemoryLimit, runtimeSpecOf } from '../support/policy-env.js';
import { containerNames, containerRequest, criscopeWithPolicy, ensureImage, metric, MIB, PERMISSION_DENIED, rejection, removePods, runPods, storedConfigOf, type TestPod } from '../support/policy-calls.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const runtime = testRuntime();
const DECISIONS = 'criscope_policy_decisions_total';
const INFO = 30;

// Pods run directly on containerd, shared by every describe: what each policy judges is the
// CreateContainer kubelet would send for them, through criscope.
const direct = new CriTestClient(runtime.containerdSocket);
let plain: TestPod;
let system: TestPod;
let labelled: TestPod;

before(async () => {
  await ensureImage(direct, runtime.busyboxImage);
  [plain, system, labelled] = await runPods(direct, [
    { name: 'modes-plain', privileged: true },
    { name: 'modes-system', namespace: 'kube-system', privileged: true },
    { name: 'modes-labelled', labels: { team: 'payments', 'criscope.test/privileged': 'allowed' }, privileged: true },
  ]);
});

after(async () => {
  await removePods(direct, [plain, system, labelled].filter((pod) => pod !== undefined));
  direct.close();
});

const privileged: Message = { linux: { security_context: { privileged: true } } };
const memoryLimit = (bytes: number): Message => ({ linux: { resources: { memory_limit_in_bytes: bytes } } });

async function create(client: CriTestClient, request: Message): Promise<string> {
  return ((await client.call('CreateContainer', request)) as { container_id: string }).container_id;
}

/** The policy's info log lines about calls in `pod`. */
function policyLines(lines: Record<string, unknown>[], pod: TestPod): Record<string, unknown>[] {
  const name = (pod.config['metadata'] as Message)['name'];
  return lines.filter((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('policy ') && line['pod'] === name);
}

describe('audit mode for the whole policy: calls go on unchanged, what would have happened is recorded', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    mode: 'audit',
    rules: [
      { kind: 'security', denyPrivileged: true },
      { kind: 'resources', maxMemory: '64Mi', action: 'clamp' },
    ],
  });

  it('creates a privileged container, and counts and logs the denial it would have made', async () => {
    const labels = { rule: 'security.privileged', action: 'deny', mode: 'audit', method: 'CreateContainer', namespace: 'criscope-e2e' };
    const before = await metric(fixture.criscope.httpUrl, DECISIONS, labels);
    const id = await create(fixture.client, containerRequest(plain, runtime.busyboxImage, 'audit-privileged', privileged));
    const stored = await storedConfigOf(direct, id);
    assert.equal(((stored['linux'] as Message)['security_context'] as Message)['privileged'], true, 'containerd got the privileged request');
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, DECISIONS, labels)) === before + 1, 'the audit decision to be counted');
    const line = policyLines(fixture.criscope.logLines(), plain).find((entry) => entry['rule'] === 'security.privileged');
    assert.ok(line, 'an audit log line for the privileged container');
    assert.equal(line['level'], INFO);
    assert.equal(line['msg'], 'policy would deny (audit) a call');
    assert.equal(line['reason'], 'the container is privileged');
    assert.equal(line['namespace'], 'criscope-e2e');
    assert.equal(line['method'], 'CreateContainer');
  });

  it('does not clamp a memory limit above the cap: the kernel enforces the limit asked for', async () => {
    const labels = { rule: 'resources.memory', action: 'clamp', mode: 'audit' };
    const before = await metric(fixture.criscope.httpUrl, DECISIONS, labels);
    const id = await create(fixture.client, containerRequest(plain, runtime.busyboxImage, 'audit-unclamped', memoryLimit(512 * MIB)));
    await direct.call('StartContainer', { container_id: id });
    const { spec, pid } = await runtimeSpecOf(direct, id);
    assert.equal((((spec['linux'] as Message)['resources'] as Message)['memory'] as Message)['limit'], 512 * MIB);
    assert.equal(hostMemoryLimit(pid), 512 * MIB);
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, DECISIONS, labels)) === before + 1, 'the audit clamp to be counted');
    const line = policyLines(fixture.criscope.logLines(), plain).find((entry) => entry['rule'] === 'resources.memory' && entry['reason'] === 'memory limit 512Mi is above the cap of 64Mi');
    assert.ok(line, 'an audit log line for the clamp it would have made');
    assert.equal(line['level'], INFO);
    assert.equal(line['msg'], 'policy would clamp (audit) a call');
  });
});

describe('audit mode for one rule, enforce for the rest', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    mode: 'enforce',
    rules: [
      { kind: 'security', name: 'privileged-audit', mode: 'audit', denyPrivileged: true },
      { kind: 'security', name: 'no-host-pid', denyHostPID: true },
    ],
  });

  it('lets the audited rule record a privileged container while the enforced rule denies a host-PID one', async () => {
    const url = fixture.criscope.httpUrl;
    const audited = { rule: 'privileged-audit.privileged', mode: 'audit' };
    const enforced = { rule: 'no-host-pid.hostPID', mode: 'enforce' };
    const [auditedBefore, enforcedBefore] = [await metric(url, DECISIONS, audited), await metric(url, DECISIONS, enforced)];

    await create(fixture.client, containerRequest(plain, runtime.busyboxImage, 'one-rule-privileged', privileged));
    const hostPid = { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'POD' } } } };
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(plain, runtime.busyboxImage, 'one-rule-host-pid', hostPid)));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "no-host-pid.hostPID": the container uses the host PID namespace');
    const names = await containerNames(direct, plain);
    assert.ok(names.includes('one-rule-privileged'), 'the audited privileged container was created');
    assert.ok(!names.includes('one-rule-host-pid'), 'the denied host-PID container was not');

    await waitFor(async () => (await metric(url, DECISIONS, audited)) === auditedBefore + 1 && (await metric(url, DECISIONS, enforced)) === enforcedBefore + 1, 'both decisions to be counted');
    const lines = policyLines(fixture.criscope.logLines(), plain);
    assert.ok(lines.some((line) => line['rule'] === 'privileged-audit.privileged' && line['msg'] === 'policy would deny (audit) a call'));
    assert.ok(lines.some((line) => line['rule'] === 'no-host-pid.hostPID' && line['msg'] === 'policy denied a call' && line['level'] === INFO));
  });
});

describe('exemptions: global by namespace, and a rule’s own by pod label', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    exempt: { namespaces: ['kube-system'] },
    rules: [
      { kind: 'security', name: 'privileged', denyPrivileged: true, exempt: { podSelector: { matchLabels: { 'criscope.test/privileged': 'allowed' } } } },
      { kind: 'resources', name: 'team-memory', maxMemory: '64Mi', action: 'deny', match: { podSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } } },
    ],
  });

  it('denies a privileged container in an ordinary pod, and creates one in kube-system', async () => {
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(plain, runtime.busyboxImage, 'exempt-privileged', privileged)));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "privileged.privileged": the container is privileged');
    assert.ok(!(await containerNames(direct, plain)).includes('exempt-privileged'), 'no container was left in the ordinary pod');

    await create(fixture.client, containerRequest(system, runtime.busyboxImage, 'exempt-privileged', privileged));
    assert.deepEqual(await containerNames(direct, system), ['exempt-privileged']);
  });

  it('creates a privileged container in a pod carrying the rule’s exempting label', async () => {
    await create(fixture.client, containerRequest(labelled, runtime.busyboxImage, 'exempt-by-label', { linux: { security_context: { privileged: true }, resources: { memory_limit_in_bytes: 32 * MIB } } }));
    assert.ok((await containerNames(direct, labelled)).includes('exempt-by-label'));
  });

  it('applies a rule matching pods by label to those pods only', async () => {
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(labelled, runtime.busyboxImage, 'matched-big', memoryLimit(512 * MIB))));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "team-memory.memory": memory limit 512Mi is above the cap of 64Mi');
    assert.ok(!(await containerNames(direct, labelled)).includes('matched-big'));

    await create(fixture.client, containerRequest(plain, runtime.busyboxImage, 'unmatched-big', memoryLimit(512 * MIB)));
    assert.ok((await containerNames(direct, plain)).includes('unmatched-big'), 'a pod without the label is not capped');
  });
});

describe('CEL rules decide, with their own message', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    rules: [
      { kind: 'cel', name: 'team-label', expression: '"team" in pod.labels', message: 'every pod needs a team label', methods: ['CreateContainer'] },
      { kind: 'cel', name: 'no-debug-env', expression: 'request.config.envs.all(e, e.key != "DEBUG")', message: 'containers must not set DEBUG', methods: ['CreateContainer'] },
    ],
  });

  it('denies a container in a pod without the required label, and creates one in a labelled pod', async () => {
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(plain, runtime.busyboxImage, 'cel-unlabelled')));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "team-label": every pod needs a team label');
    assert.ok(!(await containerNames(direct, plain)).includes('cel-unlabelled'));

    await create(fixture.client, containerRequest(labelled, runtime.busyboxImage, 'cel-labelled'));
    assert.ok((await containerNames(direct, labelled)).includes('cel-labelled'));
  });

  it('denies an environment variable key the rule forbids, and lets other keys through', async () => {
    const env = (...keys: string[]): Message => ({ envs: keys.map((key) => ({ key, value: Buffer.from('1') })) });
    const { code, details } = await rejection(fixture.client.call('CreateContainer', containerRequest(labelled, runtime.busyboxImage, 'cel-debug', env('PATH_EXTRA', 'DEBUG'))));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "no-debug-env": containers must not set DEBUG');
    assert.ok(!(await containerNames(direct, labelled)).includes('cel-debug'));

    const id = await create(fixture.client, containerRequest(labelled, runtime.busyboxImage, 'cel-other-env', env('DEBUG_LEVEL', 'debug')));
    const envs = ((await storedConfigOf(direct, id))['envs'] as Message[]).map((entry) => entry['key']);
    assert.deepEqual(envs, ['DEBUG_LEVEL', 'debug']);
  });
});
