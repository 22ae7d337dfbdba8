import { strict as assert } from 'node:assert';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { criMethod, CriTestClient, type Message } from '../support/cri-client.js';
import { echoBehindCriscope } from '../support/echo-fixture.js';
import { policyFile } from '../support/policy-env.js';
import { containerNames, containerRequest, criscopeWithPolicy, ensureImage, metric, MIB, PERMISSION_DENIED, rawStatus, rejection, removePods, runPods, storedConfigOf, type TestPod } from '../support/policy-calls.js';
import { hostNetworkPodConfig } from '../support/pods.js';
import { grpcFrame, openH2, rawCall } from '../support/raw-h2.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const runtime = testRuntime();
const DECISIONS = 'criscope_policy_decisions_total';
const CREATE_CONTAINER_V1 = '/runtime.v1.RuntimeService/CreateContainer';
const CREATE_CONTAINER_V1ALPHA2 = '/runtime.v1alpha2.RuntimeService/CreateContainer';
/** Field 2 (config) says 127 bytes follow, and one does: neither protobufjs nor Go can decode it. */
const GARBAGE = Buffer.from([0x12, 0x7f, 0x0a]);

const root = criMethod('CreateContainer').requestType.root;
function encodeAs(typeName: string, value: Message): Buffer {
  const type = root.lookupType(`runtime.v1.${typeName}`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

/** The same environment, large enough (about 100 KiB) that criscope cannot hold the request back whole. */
const LARGE_ENV: Message[] = Array.from({ length: 1500 }, (_, index) => ({ key: `VARIABLE_${index}`, value: Buffer.from(`value-${index}-`.padEnd(60, 'x')) }));

const direct = new CriTestClient(runtime.containerdSocket);
let pod: TestPod;

before(async () => {
  await ensureImage(direct, runtime.busyboxImage);
  [pod] = await runPods(direct, [{ name: 'wire', privileged: true }]);
});

after(async () => {
  if (pod !== undefined) await removePods(direct, [pod]);
  direct.close();
});

const privileged: Message = { linux: { security_context: { privileged: true } } };
const memoryLimit = (bytes: number): Message => ({ linux: { resources: { memory_limit_in_bytes: bytes } } });

describe('enforce, against the real containerd: undecodable, large and runtime.v1alpha2 requests', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    mode: 'enforce',
    rules: [
      { kind: 'security', denyPrivileged: true },
      { kind: 'resources', maxMemory: '64Mi', action: 'clamp' },
    ],
  });
  let session: ClientHttp2Session;
  before(() => {
    session = openH2(fixture.criscope.socketPath);
  });
  after(() => session.close());

  it('denies a CreateContainer it cannot decode (fail closed), and counts it', async () => {
    const labels = { rule: 'decode', mode: 'enforce', method: 'CreateContainer' };
    const before = await metric(fixture.criscope.httpUrl, DECISIONS, labels);
    const { code, message } = rawStatus(await rawCall(session, CREATE_CONTAINER_V1, grpcFrame(GARBAGE)));
    assert.equal(code, PERMISSION_DENIED);
    assert.match(message, /^criscope policy "decode": the request cannot be decoded: /);
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, DECISIONS, labels)) === before + 1, 'the undecodable request to be counted');
  });

  it('denies a privileged container asked for over runtime.v1alpha2, and creates an ordinary one that way', async () => {
    const encode = (request: Message): Buffer => grpcFrame(encodeAs('CreateContainerRequest', request));
    const denied = rawStatus(await rawCall(session, CREATE_CONTAINER_V1ALPHA2, encode(containerRequest(pod, runtime.busyboxImage, 'alpha-privileged', privileged))));
    assert.deepEqual(denied, { code: PERMISSION_DENIED, message: 'criscope policy "security.privileged": the container is privileged' });

    // containerd 1.6 serves v1alpha2, whose messages are v1's on the wire: the same call unprivileged really creates a container.
    const allowed = await rawCall(session, CREATE_CONTAINER_V1ALPHA2, encode(containerRequest(pod, runtime.busyboxImage, 'alpha-ordinary', memoryLimit(32 * MIB))));
    assert.equal(rawStatus(allowed).code, 0);
    const { container_id: id } = criMethod('CreateContainer').responseType.decode(allowed.data.subarray(5)) as unknown as { container_id: string };
    const names = await containerNames(direct, pod);
    assert.ok(names.includes('alpha-ordinary') && !names.includes('alpha-privileged'), names.join(', '));
    assert.equal(((await storedConfigOf(direct, id))['metadata'] as Message)['name'], 'alpha-ordinary');
  });

  it('denies a large privileged request it could not hold back whole, and leaves no container', async () => {
    const request = containerRequest(pod, runtime.busyboxImage, 'large-privileged', { ...privileged, envs: LARGE_ENV });
    assert.ok(encodeAs('CreateContainerRequest', request).length > 64 * 1024);
    const { code, details } = await rejection(fixture.client.call('CreateContainer', request));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(details, 'criscope policy "security.privileged": the container is privileged');
    assert.ok(!(await containerNames(direct, pod)).includes('large-privileged'));
  });

  it('denies a large request it would have to clamp, since it can no longer rewrite it', async () => {
    const request = containerRequest(pod, runtime.busyboxImage, 'large-clamp', { ...memoryLimit(512 * MIB), envs: LARGE_ENV });
    const { code, details } = await rejection(fixture.client.call('CreateContainer', request));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(
      details,
      'criscope policy "resources.memory": memory limit 512Mi is above the cap of 64Mi; the request is too large for criscope to rewrite, so it is denied',
    );
    assert.ok(!(await containerNames(direct, pod)).includes('large-clamp'));
  });

  it('lets a large request that breaks no rule through whole: the runtime creates the container with every variable', async () => {
    const request = containerRequest(pod, runtime.busyboxImage, 'large-allowed', { ...memoryLimit(32 * MIB), envs: LARGE_ENV });
    const { container_id: id } = (await fixture.client.call('CreateContainer', request, { timeoutMs: 10_000 })) as { container_id: string };
    const envs = (await storedConfigOf(direct, id))['envs'] as Message[];
    assert.deepEqual(
      envs.map((entry) => entry['key']),
      LARGE_ENV.map((entry) => entry['key']),
    );
  });
});

describe('audit, against the real containerd: a request criscope cannot decode', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, { mode: 'audit', rules: [{ kind: 'security', denyPrivileged: true }] });

  it('goes on to containerd, which answers with its own error, and is counted', async () => {
    const labels = { rule: 'decode', mode: 'audit', method: 'CreateContainer' };
    const before = await metric(fixture.criscope.httpUrl, DECISIONS, labels);
    const [viaCriscope, straight] = [openH2(fixture.criscope.socketPath), openH2(runtime.containerdSocket)];
    try {
      const relayed = rawStatus(await rawCall(viaCriscope, CREATE_CONTAINER_V1, grpcFrame(GARBAGE)));
      const own = rawStatus(await rawCall(straight, CREATE_CONTAINER_V1, grpcFrame(GARBAGE)));
      assert.notEqual(own.code, 0);
      assert.notEqual(own.code, PERMISSION_DENIED);
      assert.deepEqual(relayed, own);
    } finally {
      viaCriscope.close();
      straight.close();
    }
    await waitFor(async () => (await metric(fixture.criscope.httpUrl, DECISIONS, labels)) === before + 1, 'the undecodable request to be counted');
  });
});

// Protobuf wire pieces written by hand, to put unknown fields where protobufjs would not.
function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  for (; rest >= 0x80; rest = Math.floor(rest / 128)) bytes.push((rest % 128) | 0x80);
  bytes.push(rest);
  return Buffer.from(bytes);
}
const tag = (field: number, wireType: number): Buffer => varint(field * 8 + wireType);
const lengthDelimited = (field: number, bytes: Buffer): Buffer => Buffer.concat([tag(field, 2), varint(bytes.length), bytes]);
/** Fields no CRI version defines: a runtime newer than criscope's proto may read them. */
const UNKNOWN_VARINT = Buffer.concat([tag(999, 0), varint(424242)]);
const UNKNOWN_BYTES = lengthDelimited(998, Buffer.from('criscope must pass this on'));

describe('clamp rewrites only what it caps', () => {
  // containerd cannot show the bytes it received, so a bare HTTP/2 peer stands in for it here.
  const policy = policyFile({
    rules: [
      { kind: 'security', denyPrivileged: true },
      { kind: 'resources', maxMemory: '64Mi', action: 'clamp' },
    ],
  });
  const fixture = echoBehindCriscope(() => ({ config: { policyFile: policy } }));
  const sandboxConfig = hostNetworkPodConfig('wire-echo');

  before(() => {
    fixture.echo.answer = () => ({ trailers: { 'grpc-status': '0' }, body: grpcFrame(encodeAs('CreateContainerResponse', { container_id: 'created-by-the-echo-peer' })) });
  });

  /**
   * A CreateContainerRequest as kubelet might encode it, fields in number
   * order, with unknown fields at the top level and around the memory limit
   * in config.linux.resources.
   */
  function createContainerBytes(memoryLimitBytes: number, envs: Message[] = []): Buffer {
    const resources = Buffer.concat([
      UNKNOWN_VARINT,
      encodeAs('LinuxContainerResources', { cpu_period: 100_000, cpu_quota: 50_000, cpu_shares: 512, memory_limit_in_bytes: memoryLimitBytes, oom_score_adj: 900 }),
      UNKNOWN_BYTES,
    ]);
    const linux = Buffer.concat([lengthDelimited(1, resources), encodeAs('LinuxContainerConfig', { security_context: { run_as_user: { value: 1000 } } })]);
    const config = Buffer.concat([
      encodeAs('ContainerConfig', {
        metadata: { name: 'clamped', attempt: 2 },
        image: { image: runtime.busyboxImage },
        command: ['sleep', '3600'],
        envs,
        labels: { 'io.kubernetes.container.name': 'clamped' },
        log_path: 'clamped.log',
      }),
      lengthDelimited(15, linux),
      UNKNOWN_VARINT,
    ]);
    return Buffer.concat([
      encodeAs('CreateContainerRequest', { pod_sandbox_id: 'sandbox-on-the-echo-peer' }),
      lengthDelimited(2, config),
      encodeAs('CreateContainerRequest', { sandbox_config: sandboxConfig }),
      UNKNOWN_BYTES,
      UNKNOWN_VARINT,
    ]);
  }

  it('changes the memory limit to the cap and no other byte, unknown fields included', async () => {
    const sent = createContainerBytes(512 * MIB);
    const expected = createContainerBytes(64 * MIB);
    assert.notEqual(sent.length, expected.length, 'the capped varint is shorter, so every enclosing length changes too');
    const exchange = await rawCall(fixture.viaCriscope, CREATE_CONTAINER_V1, grpcFrame(sent));
    assert.deepEqual(rawStatus(exchange), { code: 0, message: "" });
    const received = fixture.echo.requests.at(-1);
    assert.ok(received, 'the request reached the runtime');
    assert.deepEqual(received.body, grpcFrame(expected));
  });

  it('forwards a large request that breaks no rule whole, byte for byte', async () => {
    const sent = createContainerBytes(32 * MIB, LARGE_ENV);
    assert.ok(sent.length > 64 * 1024);
    const exchange = await rawCall(fixture.viaCriscope, CREATE_CONTAINER_V1, grpcFrame(sent));
    assert.equal(rawStatus(exchange).code, 0);
    assert.deepEqual(fixture.echo.requests.at(-1)?.body, grpcFrame(sent));
  });
});

describe('no way around policy on the runtime socket, against the real containerd', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, {
    rules: [
      { kind: 'security', denyPrivileged: true },
      { kind: 'resources', maxMemory: '1Gi' },
    ],
  });
  let session: ClientHttp2Session;
  before(() => {
    session = openH2(fixture.criscope.socketPath);
  });
  after(() => session.close());

  it('judges a call whose :path lacks its leading "/", which this containerd still routes', async () => {
    const body = grpcFrame(encodeAs('CreateContainerRequest', containerRequest(pod, runtime.busyboxImage, 'no-slash', privileged)));
    const { code, message } = rawStatus(await rawCall(session, CREATE_CONTAINER_V1.slice(1), body));
    assert.equal(code, PERMISSION_DENIED);
    assert.match(message, /^criscope policy "security\.privileged": /);
    assert.ok(!(await containerNames(direct, pod)).includes('no-slash'));
  });

  it("denies containerd's own API, served on the same socket, which would start containers no rule sees", async () => {
    const versionPath = '/containerd.services.version.v1.Version/Version';
    const straight = openH2(runtime.containerdSocket);
    try {
      assert.equal(rawStatus(await rawCall(straight, versionPath, grpcFrame(Buffer.alloc(0)))).code, 0, 'containerd serves it');
    } finally {
      straight.close();
    }
    const { code, message } = rawStatus(await rawCall(session, versionPath, grpcFrame(Buffer.alloc(0))));
    assert.equal(code, PERMISSION_DENIED);
    assert.equal(message, 'criscope policy "services": service "containerd.services.version.v1.Version" is not a CRI service, nor in the policy\'s allowedServices');
    assert.equal(rawStatus(await rawCall(session, '/grpc.health.v1.Health/Check', grpcFrame(Buffer.alloc(0)))).code, 0, 'the health service is allowed by default');
  });

  it('does not stall a connection on which two large requests are judged at once', { timeout: 15_000 }, async () => {
    // Each about 40 KiB: together more than the runtime's first 64 KiB connection window, which it refills only for bytes it has seen.
    const annotations = Object.fromEntries(Array.from({ length: 2 }, (_, index) => [`large-${index}`, 'x'.repeat(20_000)]));
    const body = grpcFrame(encodeAs('UpdateContainerResourcesRequest', { container_id: 'no-such-container', linux: { memory_limit_in_bytes: 16 * MIB }, annotations }));
    const answers = await Promise.all([rawCall(session, '/runtime.v1.RuntimeService/UpdateContainerResources', body), rawCall(session, '/runtime.v1.RuntimeService/UpdateContainerResources', body)]);
    for (const answer of answers) assert.equal(rawStatus(answer).code, 5, "containerd's own NOT_FOUND: the whole request reached it");
    assert.equal(rawStatus(await rawCall(session, '/runtime.v1.RuntimeService/Version', grpcFrame(Buffer.alloc(0)))).code, 0, 'and the connection still carries calls');
  });
});
