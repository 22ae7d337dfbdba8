import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallRecord } from '../../src/cri/call-record.js';
import { WARM_UP_PATHS, warmUp, type WarmUpTracking } from '../../src/relay/warm-up.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { CriTestClient, criTable, statusOf } from '../support/cri-client.js';
import { startStubCriServer } from '../support/stub-cri-server.js';
import { waitFor } from '../support/wait.js';

const log = createLogger('silent');

function tracking(records: CallRecord[]): WarmUpTracking {
  return { table: criTable, observer: { onCall: (record) => records.push(record) }, keepMessagesUpTo: 1024 * 1024, maxKeptBytesPerConnection: 4 * 1024 * 1024, log };
}

/** How many times each path occurs. */
function tally(paths: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const path of paths) counts[path] = (counts[path] ?? 0) + 1;
  return counts;
}

describe("criscope's warm-up before its sockets open", () => {
  it("relays rounds of kubelet's read-only calls through criscope's relay to the runtime, to the observers it was given, and leaves no socket behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    // The stub answers Version and ListContainers; its image service answers UNIMPLEMENTED, which is an answer too.
    const runtime = await startStubCriServer(join(dir, 'runtime.sock'), { recordCalls: true, listContainersBytes: 64 * 1024 });
    const records: CallRecord[] = [];
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: `unix://${runtime.socketPath}`, upstreamPath: runtime.socketPath };
    try {
      const report = await warmUp(route, tracking(records), log, { rounds: 3, budgetMs: 10_000 });
      assert.equal(report.answered, 3 * WARM_UP_PATHS.length);
      assert.deepEqual(tally(runtime.journal.map((call) => call.method)), { Version: 3, ListContainers: 3 });
      await waitFor(() => records.length === 3 * WARM_UP_PATHS.length, 'the records of every warm-up call');
      assert.deepEqual(tally(records.map((record) => record.path)), Object.fromEntries(WARM_UP_PATHS.map((path) => [path, 3])));
      assert.equal(records.find((record) => record.methodName === 'ListContainers')?.responseItems, runtime.listContainersCount);
      assert.equal(existsSync(`${route.socketPath}.warm-up`), false, 'its private socket is removed');
      assert.equal(existsSync(route.socketPath), false, 'it never opens the socket kubelet connects to');
    } finally {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes no answer larger than a busy node's relist whole: criscope's own memory would keep it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    const runtime = await startStubCriServer(join(dir, 'runtime.sock'), { listContainersBytes: 2 * 1024 * 1024 });
    const records: CallRecord[] = [];
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: `unix://${runtime.socketPath}`, upstreamPath: runtime.socketPath };
    try {
      const report = await warmUp(route, tracking(records), log, { rounds: 1, budgetMs: 10_000 });
      assert.equal(report.answered, WARM_UP_PATHS.length, 'a cut answer is an answer');
      await waitFor(() => records.length === WARM_UP_PATHS.length, 'the records of the round');
      const list = records.find((record) => record.methodName === 'ListContainers');
      assert.equal(list?.resetCode, 8, 'the warm-up cancelled the 2 MiB ListContainers');
      assert.ok((list?.response.payloadBytes ?? Infinity) < 2 * 1024 * 1024);
    } finally {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops after one round when the runtime does not answer, without throwing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    const absent = join(dir, 'no-runtime.sock');
    const records: CallRecord[] = [];
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: `unix://${absent}`, upstreamPath: absent };
    const report = await warmUp(route, tracking(records), log, { rounds: 5, budgetMs: 10_000 });
    assert.equal(report.answered, 0);
    await waitFor(() => records.length === WARM_UP_PATHS.length, 'the records of the first round');
    assert.ok(records.every((record) => record.answeredByCriscope && record.code === 14), 'criscope answered each UNAVAILABLE itself');
    assert.equal(existsSync(`${route.socketPath}.warm-up`), false);
    rmSync(dir, { recursive: true, force: true });
  });

  // A hang here would be the failure: the test runner's timeout ends it.
  it('gives up when its budget is spent on a runtime that accepts and never answers', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    const silentPath = join(dir, 'silent-runtime.sock');
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: `unix://${silentPath}`, upstreamPath: silentPath };
    try {
      const report = await warmUp(route, tracking([]), log, { rounds: 5, budgetMs: 300 });
      assert.equal(report.answered, 0);
      assert.equal(existsSync(`${route.socketPath}.warm-up`), false);
    } finally {
      silent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('relays no call but its own on its socket: it has no policy, and no one else is meant to use it', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    const slowPath = join(dir, 'slow-runtime.sock');
    // A runtime that speaks HTTP/2 but takes its time keeps the warm-up (and its socket) up meanwhile.
    const slow = createHttp2Server();
    const answers = new Set<NodeJS.Timeout>();
    slow.on('stream', (stream) => {
      stream.on('error', () => undefined);
      answers.add(setTimeout(() => stream.close(), 2000));
    });
    await new Promise<void>((resolve) => slow.listen(slowPath, resolve));
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: `unix://${slowPath}`, upstreamPath: slowPath };
    try {
      const warming = warmUp(route, tracking([]), log, { rounds: 1, budgetMs: 5000 });
      await waitFor(() => existsSync(`${route.socketPath}.warm-up`), 'the warm-up socket');
      const intruder = new CriTestClient(`${route.socketPath}.warm-up`);
      const refused = await intruder.call('RemoveContainer', { container_id: 'c-1' }, { timeoutMs: 3000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      intruder.close();
      assert.equal(statusOf(refused), 7, 'PERMISSION_DENIED from criscope, the runtime never asked');
      await warming;
    } finally {
      for (const answer of answers) clearTimeout(answer);
      slow.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts criscope cold, without throwing, when its socket cannot be made, and leaves what is at that path alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-warm-up-'));
    const route = { socketPath: join(dir, 'criscope.sock'), endpoint: 'unix:///nonexistent.sock', upstreamPath: '/nonexistent.sock' };
    writeFileSync(`${route.socketPath}.warm-up`, 'not a socket');
    const report = await warmUp(route, tracking([]), log, { rounds: 5, budgetMs: 1000 });
    assert.equal(report.answered, 0);
    assert.equal(readFileSync(`${route.socketPath}.warm-up`, 'utf8'), 'not a socket');
    rmSync(dir, { recursive: true, force: true });
  });
});
