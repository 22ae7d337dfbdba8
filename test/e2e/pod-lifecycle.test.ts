import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { criscopeInFrontOf } from '../support/criscope-fixture.js';
import { statusOf, type Message } from '../support/cri-client.js';
import { assertResponsesRoundTrip } from '../support/round-trip.js';
import { testRuntime } from '../support/runtime-env.js';
import { hostNetworkPodConfig } from '../support/pods.js';

const runtime = testRuntime();
const SECRET_ENV_VALUE = `env-secret-${randomUUID()}`;


describe('a whole pod lifecycle through criscope, against the real containerd', () => {
  const fixture = criscopeInFrontOf(runtime.containerdSocket);

  it('runs, inspects, execs into, stops and removes a pod and its container', async () => {
    const config = hostNetworkPodConfig('lifecycle');
    const metadata = config['metadata'] as Message;
    const { pod_sandbox_id: sandboxId } = (await fixture.client.call('RunPodSandbox', { config, runtime_handler: '' })) as { pod_sandbox_id: string };
    assert.match(sandboxId, /^[0-9a-f]{64}$/);

    const { container_id: containerId } = (await fixture.client.call('CreateContainer', {
      pod_sandbox_id: sandboxId,
      config: {
        metadata: { name: 'app' },
        image: { image: runtime.busyboxImage },
        command: ['sleep', '3600'],
        envs: [{ key: 'APP_SECRET', value: Buffer.from(SECRET_ENV_VALUE) }],
        log_path: 'app.log',
      },
      sandbox_config: config,
    })) as { container_id: string };
    assert.match(containerId, /^[0-9a-f]{64}$/);
    await fixture.client.call('StartContainer', { container_id: containerId });

    const exec = (await fixture.client.call('ExecSync', { container_id: containerId, cmd: ['sh', '-c', 'echo hello from $APP_SECRET; exit 3'], timeout: 10 })) as {
      stdout: string;
      exit_code: number;
    };
    assert.equal(Buffer.from(exec.stdout, 'base64').toString(), `hello from ${SECRET_ENV_VALUE}\n`);
    assert.equal(exec.exit_code, 3);

    const status = (await fixture.client.call('ContainerStatus', { container_id: containerId })) as { status: Message };
    assert.equal(status.status['state'], 'CONTAINER_RUNNING');
    assert.equal((status.status['metadata'] as Message)['name'], 'app');

    const containers = (await fixture.client.call('ListContainers', { filter: { pod_sandbox_id: sandboxId } })) as { containers: Message[] };
    assert.deepEqual(
      containers.containers.map((c) => c['id']),
      [containerId],
    );
    const pods = (await fixture.client.call('ListPodSandbox', { filter: { id: sandboxId } })) as { items: Message[] };
    assert.equal(pods.items.length, 1);
    assert.equal(((pods.items[0])['metadata'] as Message)['uid'], metadata['uid']);

    await fixture.client.call('StopContainer', { container_id: containerId, timeout: 1 });
    const stopped = (await fixture.client.call('ContainerStatus', { container_id: containerId })) as { status: Message };
    assert.equal(stopped.status['state'], 'CONTAINER_EXITED');
    await fixture.client.call('RemoveContainer', { container_id: containerId });
    await fixture.client.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
    await fixture.client.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    const left = (await fixture.client.call('ListPodSandbox', { filter: { id: sandboxId } })) as { items: Message[] };
    assert.equal(left.items.length, 0);

    // Each call became one decoded record in criscope's debug log, with its pod and container identity.
    const calls = fixture.criscope.logLines().filter((line) => line['msg'] === 'call' || line['msg'] === 'call failed');
    const record = (method: string): Record<string, unknown> => {
      const found = calls.find((line) => line['method'] === method);
      assert.ok(found, `a log record for ${method}`);
      return found;
    };
    assert.equal(record('RunPodSandbox')['sandboxId'], sandboxId);
    assert.equal(record('RunPodSandbox')['podUid'], metadata['uid']);
    assert.equal(record('RunPodSandbox')['podNamespace'], 'criscope-e2e');
    assert.equal(record('CreateContainer')['containerId'], containerId);
    assert.equal(record('CreateContainer')['image'], runtime.busyboxImage);
    assert.equal(record('CreateContainer')['podName'], 'lifecycle');
    assert.equal(record('ExecSync')['exitCode'], 3);
    assert.equal(record('ListContainers')['items'], 1);
    assert.equal(record('StopContainer')['code'], 'OK');
    // The environment value went to the runtime but never into a log line.
    assert.ok(!fixture.criscope.output().includes(SECRET_ENV_VALUE), 'the env value is not logged');
  });

  it('relays GetContainerEvents as the runtime answers it (containerd 1.6 does not implement it)', async () => {
    // containerd 1.6.20 answers UNIMPLEMENTED; events flowing through a stream are tested against the stub runtime.
    const stream = fixture.client.stream('GetContainerEvents');
    const status = await new Promise<number>((resolve) => {
      stream.on('error', (error) => resolve(statusOf(error) ?? -1));
      stream.on('data', () => undefined);
    });
    assert.equal(status, 12);
  });

  it('sends back responses that decode with proto/ and re-encode to the same bytes', () => {
    assertResponsesRoundTrip(fixture.client, 12);
  });
});
