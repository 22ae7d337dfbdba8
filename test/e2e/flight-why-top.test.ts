import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import { CriTestClient, type Message } from '../support/cri-client.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { hostNetworkPodConfig } from '../support/pods.js';
import { policyFile } from '../support/policy-env.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const runtime = testRuntime();
/** The test images' repository on the loopback registry. */
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));
/** The busybox repository exists in the loopback registry; this tag does not. */
const MISSING_TAG = `${runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf(':'))}:no-such-tag-${randomUUID().slice(0, 8)}`;
const RECORDER_ON = { maxRecords: 20_000 };

interface CliRun {
  readonly code: number | null;
  readonly output: string;
}

/** A criscope command as an operator runs it (not on a terminal), with what it printed. */
function criscopeCli(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}${stderr}` });
    });
  });
}

const adminSocketOf = (criscope: CriscopeProcess): string => join(dirname(criscope.socketPath), 'admin.sock');

/**
 * A runtime socket this test can take away: it passes every connection on to
 * the shared test containerd, and, when closed, cuts them all and stops
 * answering. Stopping containerd itself would disturb the other tests that
 * share it (and the engineers running them), so criscope is pointed here.
 */
class RuntimeDoor {
  readonly path = join(mkdtempSync(join(tmpdir(), 'criscope-door-')), 'runtime.sock');
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Each connection's runtime side, and its client side. */
  private readonly pairs = new Map<Socket, Socket>();

  constructor(target: string) {
    this.server = createServer((client) => {
      const upstream = createConnection(target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          this.sockets.delete(socket);
          this.pairs.delete(socket);
        });
      }
      this.pairs.set(upstream, client);
      client.pipe(upstream).pipe(client);
    });
  }

  /** The runtime's answers wait (calls stay in flight) until release(). */
  hold(): void {
    for (const [upstream, client] of this.pairs) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  release(): void {
    for (const [upstream, client] of this.pairs) upstream.pipe(client);
  }

  open(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  /** The runtime goes away: every connection cut, the socket gone. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('flight dumps, criscope why and criscope top, against the real containerd', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  const direct = new CriTestClient(runtime.containerdSocket);
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    direct.close();
  });

  /** A criscope of this test's own, stopped (cleanly) after the tests. */
  const ownCriscope = async (runtimeSocket: string, config: Record<string, unknown>): Promise<{ criscope: CriscopeProcess; client: CriTestClient }> => {
    const criscope = await startCriscope({ runtimeSocket, logLevel: 'info', config });
    const client = new CriTestClient(criscope.socketPath);
    cleanups.push(async () => {
      client.close();
      assert.equal(await criscope.stop(), 0);
    });
    return { criscope, client };
  };

  /** A sandbox made through criscope, removed straight at the runtime after the tests. */
  const sandbox = async (client: CriTestClient, name: string): Promise<{ sandboxId: string; config: Message }> => {
    const config = hostNetworkPodConfig(name);
    const { pod_sandbox_id: sandboxId } = (await client.call('RunPodSandbox', { config, runtime_handler: '' })) as { pod_sandbox_id: string };
    cleanups.push(async () => {
      await direct.call('StopPodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
      await direct.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    });
    return { sandboxId, config };
  };

  it('top --once shows the methods called, with their rates and percentiles', async () => {
    const { criscope, client } = await ownCriscope(runtime.containerdSocket, {});
    await client.call('Version');
    await client.call('Version');
    await client.call('ListImages', {});
    await client.call('ListPodSandbox', {});
    const top = await criscopeCli(['top', '--once', '--admin-socket', adminSocketOf(criscope)]);
    assert.equal(top.code, 0, top.output);
    assert.doesNotMatch(top.output, /\x1b/, 'plain, no terminal control');
    assert.match(top.output, /^criscope top .*calls over the last 60s/);
    for (const method of ['Version', 'ListImages', 'ListPodSandbox']) {
      assert.match(top.output, new RegExp(`^${method} +(runtime|image) +\\d+\\.\\d\\d +\\d+(\\.\\d)? +\\d+(\\.\\d)? +0\\.00 +0`, 'm'), `${method} in:\n${top.output}`);
    }
    assert.match(top.output, /^PODS STARTING/m);
  });

  it('dumps the recorder when the runtime becomes unreachable, holding the calls before it; SIGUSR1 dumps on demand', async () => {
    const door = new RuntimeDoor(runtime.containerdSocket);
    await door.open();
    const dumpDir = join(mkdtempSync(join(tmpdir(), 'criscope-flight-')), 'flight');
    const { criscope, client } = await ownCriscope(door.path, { flightRecorder: { ...RECORDER_ON, dumpDir } });
    const missing = `missing-${randomUUID()}`;
    await client.call('Version');
    await client.call('ListPodSandbox', {});
    await assert.rejects(client.call('ContainerStatus', { container_id: missing }));
    await door.close();
    await assert.rejects(client.call('Version'), 'the runtime is gone');
    await waitFor(() => existsSync(dumpDir) && readdirSync(dumpDir).some((name) => name.endsWith('-runtime-unreachable.jsonl.gz')), 'a dump of the runtime becoming unreachable');
    const dumped = criscope.logLines().find((line) => line['msg'] === 'flight recorder dumped: trouble seen' && line['trigger'] === 'runtime-unreachable');
    assert.ok(dumped !== undefined, 'the dump is logged');
    const path = String(dumped['path']);
    assert.equal(dirname(path), dumpDir);

    const shown = await criscopeCli(['flight', 'show', path, '--json']);
    assert.equal(shown.code, 0, shown.output);
    const calls = shown.output.trim().split('\n').map((line) => JSON.parse(line) as CallEntry);
    assert.deepEqual(calls.slice(0, 3).map((call) => call.method), ['Version', 'ListPodSandbox', 'ContainerStatus'], 'the calls before the runtime went');
    assert.equal(calls[2].containerId, missing);
    const plain = await criscopeCli(['flight', 'show', path, '--errors']);
    assert.match(plain.output, /^# flight dump taken .*: the runtime at unix:\/\/.*runtime\.sock became unreachable/);
    assert.match(plain.output, /ContainerStatus +NOT_FOUND/);
    assert.doesNotMatch(plain.output, /Version +OK/, '--errors leaves out what succeeded');

    criscope.child.kill('SIGUSR1');
    await waitFor(() => readdirSync(dumpDir).some((name) => name.endsWith('-signal.jsonl.gz')), 'a dump on SIGUSR1');
    assert.equal(criscope.child.exitCode, null, 'criscope goes on');
  });

  it('why and top show what a pod waits on while its pull is in flight', async () => {
    const door = new RuntimeDoor(runtime.containerdSocket);
    await door.open();
    cleanups.push(() => door.close());
    const { criscope, client } = await ownCriscope(door.path, { flightRecorder: RECORDER_ON });
    const name = `why-waiting-${randomUUID().slice(0, 8)}`;
    const { config } = await sandbox(client, name);
    door.hold();
    const pulling = client.call('PullImage', { image: { image: runtime.busyboxImage }, sandbox_config: config });
    try {
      const image = runtime.busyboxImage.replace(/[.]/g, '\\.');
      let why: CliRun = { code: null, output: '' };
      await waitFor(async () => {
        why = await criscopeCli(['why', `criscope-e2e/${name}`, '--admin-socket', adminSocketOf(criscope)]);
        return /^verdict: waiting/m.test(why.output);
      }, 'why to see the pull in flight', 20_000);
      assert.match(why.output, /: 1 calls held, 1 in flight$/m);
      assert.match(why.output, new RegExp(`PullImage +IN FLIGHT +\\S+  ${image}$`, 'm'));
      assert.match(why.output, new RegExp(`^verdict: waiting \\S+ on PullImage ${image}$`, 'm'));
      const top = await criscopeCli(['top', '--once', '--admin-socket', adminSocketOf(criscope)]);
      assert.match(top.output, /^PullImage +image +[\d.]+ +- +- +[\d.]+ +1 +\S+$/m, `the pull in flight, and no pull finished:\n${top.output}`);
      assert.match(top.output, new RegExp(`^criscope-e2e/${name} .* PullImage ${image} \\(\\S+\\)$`, 'm'), 'the pod starting, waiting on its pull');
    } finally {
      door.release();
    }
    await pulling;
  });

  it('says what to do when the recorder is off: SIGUSR1 has nothing to dump, why cannot tell', async () => {
    const { criscope } = await ownCriscope(runtime.containerdSocket, { flightRecorder: { maxRecords: 0 } });
    criscope.child.kill('SIGUSR1');
    await waitFor(() => criscope.logLines().some((line) => /^nothing to dump: the flight recorder is off/.test(String(line['msg']))), 'the note that there is nothing to dump');
    const why = await criscopeCli(['why', 'default/web', '--admin-socket', adminSocketOf(criscope)]);
    assert.equal(why.code, 1);
    assert.match(why.output, /the flight recorder is off \(flightRecorder\.maxRecords is 0\)/);
  });

  it('why explains a pod whose image tag the registry does not have, and a pod unknown to it', async () => {
    const { criscope, client } = await ownCriscope(runtime.containerdSocket, { flightRecorder: RECORDER_ON });
    const name = `why-pull-${randomUUID().slice(0, 8)}`;
    const { config } = await sandbox(client, name);
    await client.call('PullImage', { image: { image: runtime.busyboxImage }, sandbox_config: config });
    // kubelet retries a failed pull; criscope folds the retries into one line.
    for (let attempt = 0; attempt < 2; attempt++) await assert.rejects(client.call('PullImage', { image: { image: MISSING_TAG }, sandbox_config: config }));
    const why = await criscopeCli(['why', `criscope-e2e/${name}`, '--admin-socket', adminSocketOf(criscope)]);
    assert.equal(why.code, 0, why.output);
    const lines = why.output.trim().split('\n');
    assert.match(lines[0], new RegExp(`^pod criscope-e2e/${name} \\(uid [0-9a-f-]{36}\\): 4 calls held, 0 in flight$`));
    assert.match(lines[1], /RunPodSandbox +OK .*sandbox=[0-9a-f]{12}/);
    assert.match(lines[2], /PullImage +OK .*image=\S+busybox\S+  size=\d+(\.\d)? (KiB|MiB)$/, 'a pull with the image’s size');
    assert.match(lines[3], new RegExp(`PullImage +NOT_FOUND ×2 .*image=${MISSING_TAG.replace(/[.]/g, '\\.')} .*not found`));
    assert.match(lines.at(-1) ?? '', new RegExp(`^verdict: PullImage failed: NOT_FOUND .*${MISSING_TAG.replace(/[.]/g, '\\.')}.*not found`));

    const unknown = await criscopeCli(['why', 'criscope-e2e/no-such-pod', '--admin-socket', adminSocketOf(criscope)]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.output, /criscope knows no call of pod criscope-e2e\/no-such-pod: its flight recorder holds \d+ calls/);
  });

  it('why names the policy rule that denied a pod’s image, also once the pod is gone', async () => {
    const policy = policyFile({ mode: 'enforce', rules: [{ kind: 'images', allowed: [`${TEST_REPOSITORY}/pause:*`] }] });
    const { criscope, client } = await ownCriscope(runtime.containerdSocket, { policyFile: policy, flightRecorder: RECORDER_ON });
    const name = `why-denied-${randomUUID().slice(0, 8)}`;
    const { sandboxId, config } = await sandbox(client, name);
    await assert.rejects(client.call('PullImage', { image: { image: runtime.busyboxImage }, sandbox_config: config }));
    const denied = new RegExp(`^verdict: denied by policy rule images\\.allowed: image "${runtime.busyboxImage.replace(/[.]/g, '\\.')}" is not in an allowed registry or repository$`, 'm');
    const why = await criscopeCli(['why', `criscope-e2e/${name}`, '--admin-socket', adminSocketOf(criscope)]);
    assert.equal(why.code, 0, why.output);
    assert.match(why.output, /PullImage +PERMISSION_DENIED .*policy denied by rule images\.allowed/);
    assert.match(why.output, denied);

    await client.call('StopPodSandbox', { pod_sandbox_id: sandboxId });
    await client.call('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    const gone = await criscopeCli(['why', `criscope-e2e/${name}`, '--admin-socket', adminSocketOf(criscope)]);
    assert.match(gone.output, /^verdict: sandbox removed at [\d:.]+; before that, denied by policy rule images\.allowed: /m);
    rmSync(policy, { force: true });
  });
});
