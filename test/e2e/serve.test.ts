import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { startCriscope } from '../support/criscope-process.js';
import { CriTestClient, statusOf } from '../support/cri-client.js';
import { startStubCriServer } from '../support/stub-cri-server.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';
import { startSleeper } from '../support/pods.js';

const runtime = testRuntime();
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'criscope-serve-'));
}

/** Runs the CLI to completion (for the cases where it must refuse to start). */
function runCli(args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('criscope serve: its socket, its endpoints and its shutdown', () => {
  it('creates its socket with mode 0660 and answers /healthz and /readyz', async () => {
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket });
    try {
      assert.equal(statSync(criscope.socketPath).mode & 0o777, 0o660);
      assert.equal((await fetch(`${criscope.httpUrl}/healthz`)).status, 200);
      const ready = await fetch(`${criscope.httpUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { runtime: { runtimeName: string } }).runtime.runtimeName, 'containerd');
    } finally {
      await criscope.stop();
    }
  });

  it("warms up against the runtime before its socket opens, and counts none of the warm-up's calls", async () => {
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket });
    try {
      const serving = criscope.logLines().find((line) => line['msg'] === 'criscope serving');
      assert.equal((serving?.['warmUp'] as { answered?: unknown } | undefined)?.answered, 25, 'five rounds of five calls, all answered by containerd');
      const metrics = await (await fetch(`${criscope.httpUrl}/metrics`)).text();
      assert.doesNotMatch(metrics, /^criscope_cri_calls_total\{/m, 'no call counted before a client made one');
      const client = new CriTestClient(criscope.socketPath);
      await client.call('Version');
      client.close();
      const after = await (await fetch(`${criscope.httpUrl}/metrics`)).text();
      assert.match(after, /^criscope_cri_calls_total\{[^}]*method="Version"[^}]*\} 1$/m);
    } finally {
      await criscope.stop();
    }
  });

  it('replaces a stale socket left by a dead process', async () => {
    const socketPath = join(freshDir(), 'criscope.sock');
    // A socket file nobody listens on, as a killed criscope leaves behind.
    spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socketPath)})`]);
    assert.ok(statSync(socketPath).isSocket());
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath });
    try {
      const client = new CriTestClient(socketPath);
      assert.equal((await client.call('Version'))['runtime_name'], 'containerd');
      client.close();
    } finally {
      await criscope.stop();
    }
  });

  it('refuses to take over a live socket, and leaves its owner serving', async () => {
    const first = await startCriscope({ runtimeSocket: runtime.containerdSocket });
    try {
      const second = runCli(['serve', '--listen', `unix://${first.socketPath}`, '--runtime-endpoint', `unix://${runtime.containerdSocket}`, '--http-listen', '127.0.0.1:0']);
      assert.equal(second.status, 1);
      assert.match(second.stderr, /cannot listen on .*criscope\.sock: another process is serving this socket/);
      const client = new CriTestClient(first.socketPath);
      assert.equal((await client.call('Version'))['runtime_name'], 'containerd');
      client.close();
    } finally {
      await first.stop();
    }
  });

  it('relays while its HTTP address is taken, and serves it once the address is free', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    const socketPath = join(freshDir(), 'criscope.sock');
    const child = spawn(process.execPath, [MAIN, 'serve', '--listen', `unix://${socketPath}`, '--runtime-endpoint', `unix://${runtime.containerdSocket}`, '--http-listen', `127.0.0.1:${port}`]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitFor(() => output.includes('"msg":"criscope serving"'), 'criscope to serve');
      const failed = output
        .split('\n')
        .filter((line) => line.includes('"msg":"cannot serve /healthz, /readyz and /metrics; relaying all the same'))
        .map((line) => JSON.parse(line) as { err: { message: string; code: string; stack: string } });
      assert.equal(failed.length, 1, output);
      assert.match(failed[0].err.message, /^listen EADDRINUSE/);
      assert.equal(failed[0].err.code, 'EADDRINUSE', 'the error is logged whole');
      const client = new CriTestClient(socketPath);
      assert.equal((await client.call('Version'))['runtime_name'], 'containerd');
      client.close();
      await new Promise((resolve) => squatter.close(resolve));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, '/healthz once the port is free', 10_000);
    } finally {
      squatter.close();
      child.kill('SIGTERM');
    }
  });

  it('refuses a listen path that is not a socket', () => {
    const path = join(freshDir(), 'not-a-socket');
    writeFileSync(path, 'keep me');
    const result = runCli(['serve', '--listen', `unix://${path}`, '--runtime-endpoint', `unix://${runtime.containerdSocket}`, '--http-listen', '127.0.0.1:0']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /the path exists and is not a socket/);
    assert.ok(existsSync(path), 'the file is left alone');
  });

  it('refuses a bad config file, naming the file, the field and the reason', () => {
    const file = join(freshDir(), 'criscope.yaml');
    writeFileSync(file, 'listen: tcp://0.0.0.0:1234\nmaxMessageBytes: 12\n');
    const result = runCli(['serve', '--config', file]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`invalid config in ${file.replace(/[/.]/g, '\\$&')}`));
    assert.match(result.stderr, /listen: must be a unix socket endpoint/);
    assert.match(result.stderr, /maxMessageBytes: must be at least 4 MiB/);
  });

  it('refuses unknown flags and commands with usage', () => {
    const result = runCli(['serve', '--no-such-flag']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown option '--no-such-flag'/);
    assert.match(result.stderr, /usage: criscope serve/);
  });

  it('on SIGTERM lets an in-flight call finish, ends streams, removes its socket and exits 0', async () => {
    const stubSocket = join(freshDir(), 'stub.sock');
    const stub = await startStubCriServer(stubSocket);
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: join(freshDir(), 'criscope.sock') });
    const viaStub = await startCriscope({ runtimeSocket: stubSocket });
    const client = new CriTestClient(criscope.socketPath);
    const streamClient = new CriTestClient(viaStub.socketPath);
    const sandbox = await runSleeperPod(client);
    try {
      // A slow unary call (ExecSync of a 2 s sleep) is in flight when SIGTERM arrives.
      const slow = client.call('ExecSync', { container_id: sandbox.containerId, cmd: ['sleep', '2'], timeout: 10 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = criscope.stop('SIGTERM');
      const result = await slow;
      assert.equal(result['exit_code'], 0, 'the in-flight call completed');
      assert.equal(await exited, 0);
      assert.ok(!existsSync(criscope.socketPath), 'the socket is removed');

      const stream = streamClient.stream('GetContainerEvents');
      const streamEnd = new Promise<number | undefined>((resolve) => {
        stream.on('error', (error) => resolve(statusOf(error)));
        stream.on('end', () => resolve(0));
        stream.on('data', () => undefined);
      });
      await stub.waitForEventStreams(1);
      const stopped = viaStub.stop('SIGTERM');
      assert.equal(await streamEnd, 14, 'the stream ends with UNAVAILABLE so the client reconnects');
      assert.equal(await stopped, 0);
    } finally {
      streamClient.close();
      client.close();
      await viaStub.stop();
      await stub.close();
      await removePod(runtime.containerdSocket, sandbox.sandboxId);
    }
  });
});

async function runSleeperPod(client: CriTestClient): Promise<{ sandboxId: string; containerId: string }> {
  const config = {
    metadata: { name: 'sigterm', uid: `uid-${Date.now()}`, namespace: 'criscope-e2e' },
    log_directory: freshDir(),
    linux: { security_context: { namespace_options: { network: 'NODE' } } },
  };
  const { pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config })) as { pod_sandbox_id: string };
  const containerId = await startSleeper(client, sandboxId, config, runtime.busyboxImage, 'sleeper');
  return { sandboxId, containerId };
}

async function removePod(runtimeSocket: string, sandboxId: string): Promise<void> {
  const direct = new CriTestClient(runtimeSocket);
  await direct.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
  await direct.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
  direct.close();
}
