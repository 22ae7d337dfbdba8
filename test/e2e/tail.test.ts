import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import { CriTestClient, type Message } from '../support/cri-client.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { hostNetworkPodConfig, startSleeper } from '../support/pods.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const runtime = testRuntime();

/** `criscope tail` as an operator runs it, its output collected. */
class TailProcess {
  readonly child: ChildProcess;
  private text = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [MAIN, 'tail', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }

  get lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '');
  }

  get output(): string {
    return this.text;
  }

  exited(): Promise<number | null> {
    return this.child.exitCode !== null ? Promise.resolve(this.child.exitCode) : new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.exited();
  }
}

/** A pod's whole life through criscope: the calls kubelet makes, in its order. */
async function podLifecycle(client: CriTestClient, name: string): Promise<void> {
  const config = hostNetworkPodConfig(name);
  const { pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config, runtime_handler: '' })) as { pod_sandbox_id: string };
  const containerId = await startSleeper(client, sandboxId, config, runtime.busyboxImage);
  await client.call('StopContainer', { container_id: containerId, timeout: 0 });
  await client.call('RemoveContainer', { container_id: containerId });
  await client.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
  await client.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
}

const LIFECYCLE = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox'];

describe('criscope tail, against the real containerd', () => {
  let criscope: CriscopeProcess | undefined;
  let client: CriTestClient | undefined;
  const tails: TailProcess[] = [];
  const started = async (): Promise<{ criscope: CriscopeProcess; client: CriTestClient; adminSocket: string }> => {
    if (criscope === undefined) {
      // A small queue per reader, so that a reader that stops reading loses calls after a few thousand.
      criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, logLevel: 'info', config: { admin: { subscriberQueueBytes: 4096 }, flightRecorder: { maxRecords: 20_000 } } });
      client = new CriTestClient(criscope.socketPath);
    }
    return { criscope, client: client as CriTestClient, adminSocket: join(dirname(criscope.socketPath), 'admin.sock') };
  };
  const tail = (args: readonly string[]): TailProcess => {
    const process = new TailProcess(args);
    tails.push(process);
    return process;
  };
  after(async () => {
    for (const process of tails) await process.stop();
    client?.close();
    assert.equal(await criscope?.stop(), 0);
  });

  it('serves its admin socket to its own user only (mode 0600)', async () => {
    const { adminSocket } = await started();
    const stats = statSync(adminSocket);
    assert.ok(stats.isSocket());
    assert.equal(stats.mode & 0o777, 0o600);
  });

  it('shows a pod’s lifecycle driven through criscope, with its filters, and nothing else', async () => {
    const { client, adminSocket } = await started();
    const pod = `tail-${randomUUID().slice(0, 8)}`;
    // --since makes each tail start from the recorder, so none misses a call made before it was connected.
    const json = tail(['--admin-socket', adminSocket, '--json', '--since', '10m', '--pod', `criscope-e2e/${pod}`]);
    const containers = tail(['--admin-socket', adminSocket, '--since', '10m', '--pod', `criscope-e2e/${pod}`, '--method', '*Container*']);
    await client.call('Version');
    await client.call('ListImages');
    await podLifecycle(client, `other-${pod}`);
    await podLifecycle(client, pod);
    await waitFor(() => json.lines.length >= LIFECYCLE.length && containers.lines.length >= 4, 'both tails to show the pod’s calls');

    const entries = json.lines.map((line) => JSON.parse(line) as CallEntry);
    assert.deepEqual(entries.map((entry) => entry.method), LIFECYCLE, json.output);
    for (const entry of entries) {
      assert.equal(entry.v, 1);
      assert.equal(`${entry.podNamespace}/${entry.podName}`, `criscope-e2e/${pod}`, 'a call that names only a container is shown with its pod');
      assert.equal(entry.status, 'OK');
    }
    const created = entries[1];
    assert.equal(created.containerName, 'app');
    assert.equal(created.image, runtime.busyboxImage);
    assert.match(created.containerId ?? '', /^[0-9a-f]{64}$/);

    assert.deepEqual(
      containers.lines.map((line) => line.split(/\s+/)[1]),
      ['CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer'],
      containers.output,
    );
    for (const line of containers.lines) assert.match(line, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  \\w+ +OK +\\d+\\.\\d ms  pod=criscope-e2e/${pod}  `), 'plain, uncoloured when piped');
  });

  it('with --no-follow prints what the recorder holds and stops; --errors shows only failed calls', async () => {
    const { client, adminSocket } = await started();
    await assert.rejects(client.call('ContainerStatus', { container_id: `missing-${randomUUID()}` }));
    const errors = tail(['--admin-socket', adminSocket, '--no-follow', '--errors', '--json']);
    assert.equal(await errors.exited(), 0, errors.output);
    const entries = errors.lines.map((line) => JSON.parse(line) as CallEntry);
    assert.ok(entries.length > 0, 'the failed call is there');
    for (const entry of entries) assert.notEqual(entry.code, 0, `only failed calls: ${JSON.stringify(entry)}`);
  });

  it('tells a reader that stopped reading how many calls it lost, while every call goes on', async () => {
    const { client, adminSocket } = await started();
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const call = request({ socketPath: adminSocket, path: '/v1/calls?follow=1&method=Version' }, resolve);
      call.on('error', reject);
      call.end();
    });
    assert.equal(response.statusCode, 200);
    response.pause();
    const calls = 4000;
    let done = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (done < calls) {
          done++;
          await client.call('Version');
        }
      }),
    );
    let text = '';
    response.on('data', (chunk: Buffer) => (text += chunk.toString()));
    response.resume();
    // The lost count comes before the next call this reader gets: make one more call once it reads again.
    await waitFor(async () => {
      await client.call('Version');
      return /"lost":\d+/.test(text);
    }, 'the reader to be told what it lost');
    const lines = text.split('\n').filter((line) => line !== '');
    const lostAt = lines.findIndex((line) => line.includes('"lost"'));
    const lost = (JSON.parse(lines[lostAt]) as { v: number; lost: number });
    assert.equal(lost.v, 1);
    assert.ok(lost.lost > 0 && lost.lost < calls, `lost ${lost.lost} of ${calls}`);
    assert.ok(lostAt > 0, 'it got the calls that fit in its queue first');
    await waitFor(async () => {
      await client.call('Version');
      return text.split('\n').slice(lostAt + 1).some((line) => line.includes('"method":"Version"'));
    }, 'calls to reach the reader again');
    response.destroy();
  });

  it('refuses a bad query, naming the parameter, and says when no criscope serves the socket', async () => {
    const { adminSocket } = await started();
    const missing = tail(['--admin-socket', join(dirname(adminSocket), 'nobody.sock')]);
    assert.equal(await missing.exited(), 1);
    assert.match(missing.output, /no criscope serves .*nobody\.sock/);
    const message = await new Promise<Message>((resolve, reject) => {
      const call = request({ socketPath: adminSocket, path: '/v1/calls?bogus=1' }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode, ...(JSON.parse(body) as Message) }));
      });
      call.on('error', reject);
      call.end();
    });
    assert.equal(message['status'], 400);
    assert.match(String(message['error']), /unknown parameter "bogus"/);
  });

  it('refuses an empty pattern with a clear error, and criscope goes on relaying', async () => {
    const { client, adminSocket } = await started();
    const empty = tail(['--admin-socket', adminSocket, '--pod', '']);
    assert.equal(await empty.exited(), 1);
    assert.match(empty.output, /pod must not be empty/);
    assert.equal((await client.call('Version'))['runtime_name'], 'containerd');
  });

  it('ends cleanly when criscope stops under it', async () => {
    const runtimeSocket = runtime.containerdSocket;
    const own = await startCriscope({ runtimeSocket, logLevel: 'info' });
    const following = tail(['--admin-socket', join(dirname(own.socketPath), 'admin.sock')]);
    const ownClient = new CriTestClient(own.socketPath);
    await waitFor(async () => {
      await ownClient.call('Version');
      return following.lines.length > 0;
    }, 'tail to show a call');
    ownClient.close();
    assert.equal(await own.stop(), 0);
    assert.equal(await following.exited(), 0, following.output);
    assert.doesNotMatch(following.output, /Error|at /, 'no stack trace');
  });
});
