import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { CallRecord } from '../../src/cri/call-record.js';
import { nextSort, topLines } from '../../src/cli/top-screen.js';
import { top } from '../../src/cli/top.js';
import { CALL_ENTRY_VERSION } from '../../src/telemetry/recorder/call-entry.js';
import type { CallInFlight } from '../../src/telemetry/call-in-flight.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { PodStarts } from '../../src/telemetry/pod-starts.js';
import { CallRates } from '../../src/telemetry/top/call-rates.js';
import { BIN_COUNT, binMiddleMs, durationBin, MethodWindow, WINDOW_SECONDS } from '../../src/telemetry/top/method-window.js';
import { TopView, type TopSnapshot } from '../../src/telemetry/top/top-view.js';
import { callFacts } from '../support/call-facts.js';
import { waitFor } from '../support/wait.js';
import { criMethod, criTable } from '../support/cri-client.js';

describe('criscope top: the one-minute window', () => {
  it('puts each duration in a bin whose middle is within 10% of it, from 0.1 ms to minutes', () => {
    for (const ms of [0.15, 0.9, 1, 3.3, 12, 250, 1999, 60_000, 300_000]) {
      const middle = binMiddleMs(durationBin(ms));
      assert.ok(Math.abs(middle - ms) / ms < 0.1, `${ms} ms → bin middle ${middle}`);
    }
    assert.equal(durationBin(0), 0);
    assert.equal(durationBin(Number.NaN), 0);
    assert.equal(durationBin(1e12), BIN_COUNT - 1, 'anything longer lands in the last bin');
  });

  it('sums calls and errors of the last minute, and reads p50 and p99 from the histogram', () => {
    const window = new MethodWindow();
    // 100 calls in second 1000: 98 of 1 ms, one of 100 ms, one failed of 1000 ms.
    for (let index = 0; index < 98; index++) window.add(1000, 1, false);
    window.add(1000, 100, false);
    window.add(1000, 1000, true);
    const summary = window.summary(1000.5, 0);
    assert.equal(summary.calls, 100);
    assert.equal(summary.errors, 1);
    assert.equal(summary.seconds, WINDOW_SECONDS - 0.5, 'the minute up to now: the current second only as far as it has gone');
    assert.ok(Math.abs((summary.p50Ms ?? 0) - 1) < 0.1, `p50 ${summary.p50Ms}`);
    assert.ok(Math.abs((summary.p99Ms ?? 0) - 100) < 10, `p99 ${summary.p99Ms}`);
  });

  it('forgets seconds older than the window, also when a slot is reused', () => {
    const window = new MethodWindow();
    window.add(100, 5, true);
    window.add(130, 5, false);
    assert.equal(window.summary(159, 0).calls, 2, 'both within the minute');
    assert.equal(window.summary(160, 0).calls, 1, 'second 100 has left the window');
    window.add(160, 7, false);
    const later = window.summary(160, 0);
    assert.equal(later.calls, 2, 'the slot of second 100 now holds second 160 alone');
    assert.equal(later.errors, 0);
    assert.equal(window.summary(400, 0).p99Ms, undefined, 'no call in the last minute: no percentile');
  });

  it('gives rates over the time counted when criscope started less than a minute ago', () => {
    const window = new MethodWindow();
    for (let second = 10; second < 20; second++) window.add(second, 1, false);
    const summary = window.summary(20, 10);
    assert.equal(summary.seconds, 10);
    assert.equal(summary.calls / summary.seconds, 1);
    assert.equal(window.summary(19.5, 10).seconds, 9.5, 'to the fraction of the second now under way');
  });

  it('follows each method apart, from the records', () => {
    const rates = new CallRates(criTable, 0);
    const record = (method: string, durationSeconds: number, grpcStatus = 0): CallRecord => new CallRecord({ ...callFacts(criMethod(method)), startTick: 5000, durationSeconds, grpcStatus });
    for (let index = 0; index < 4; index++) rates.onCall(record('ListContainers', 0.002));
    rates.onCall(record('PullImage', 2, 5));
    const byMethod = new Map(rates.summaries(9000).map((summary) => [summary.method, summary]));
    assert.equal(byMethod.get('ListContainers')?.calls, 4);
    assert.equal(byMethod.get('ListContainers')?.errors, 0);
    assert.equal(byMethod.get('PullImage')?.errors, 1);
    assert.equal(byMethod.get('PullImage')?.service, 'runtime.v1.ImageService');
    assert.equal(byMethod.get('ListContainers')?.seconds, 9, 'criscope has counted for nine seconds');
  });

  it('counts calls to paths the method table does not describe in one row, so they never push out a CRI method', () => {
    const rates = new CallRates(criTable, 0);
    const version = criMethod('Version');
    for (let index = 0; index < 200; index++) {
      const path = index % 2 === 0 ? `/junk.Service/Method${index}` : `/runtime.v1alpha2.RuntimeService/Call${index}`;
      rates.onCall(new CallRecord({ ...callFacts(version), path, method: undefined, service: path.slice(1, path.lastIndexOf('/')), methodName: `Method${index}`, startTick: 5000 }));
    }
    rates.onCall(new CallRecord({ ...callFacts(version), startTick: 5000 }));
    const summaries = rates.summaries(9000);
    const called = summaries.filter((summary) => summary.calls > 0).map((summary) => [summary.method, summary.calls]);
    assert.deepEqual(called, [['Version', 1], ['(other paths)', 200]]);
    assert.equal(summaries.length, [...criTable.methods].length + 1, 'a row per method of the table, and one for other paths: no more however many paths are called');
  });
});

describe('criscope top: the snapshot', () => {
  const flying = (method: string, ageMs: number, identity: Record<string, string> = {}, path?: string): CallInFlight => {
    const cri = path === undefined ? criMethod(method) : undefined;
    return {
      path: path ?? cri?.path ?? '',
      method: cri,
      service: cri?.service ?? 'runtime.v1alpha2.RuntimeService',
      methodName: method,
      serverStreaming: false,
      startedTick: 100_000 - ageMs,
      responseMessages: 0,
      requestIdentity: () => identity,
    };
  };

  it('puts each method\'s calls in flight on its row, gives a row to methods with calls only in flight, and shows what a pod starting waits on', () => {
    const rates = new CallRates(criTable, 40_000);
    const pull = (durationSeconds: number, grpcStatus = 0): CallRecord => new CallRecord({ ...callFacts(criMethod('PullImage')), startTick: 90_000, durationSeconds, grpcStatus });
    rates.onCall(pull(2));
    rates.onCall(pull(4, 5));
    const inFlight = [
      flying('PullImage', 30_000, { image: 'registry.example/app:1.2' }),
      flying('PullImage', 5_000, { image: 'registry.example/side:1' }),
      flying('StopContainer', 12_000, { containerId: 'c'.repeat(64) }),
      flying('RunPodSandbox', 2_000, { podUid: 'u-1', podName: 'web', podNamespace: 'default' }),
      flying('Version', 1_000, {}, '/runtime.v1alpha2.RuntimeService/Version'),
    ];
    const podStarts = new PodStarts({ settleSeconds: 1, maxSeconds: 600 }, () => inFlight, createLogger('silent'));
    const snapshot = new TopView(rates, podStarts, () => inFlight).snapshot(100_000);
    podStarts.close();
    const rows = new Map(snapshot.methods.map((row) => [row.method, row]));
    assert.deepEqual([...rows.keys()].sort(), ['(other paths)', 'PullImage', 'RunPodSandbox', 'StopContainer']);
    assert.deepEqual(rows.get('PullImage'), { service: 'image', method: 'PullImage', callsPerSecond: 0.03, errorsPerSecond: 0.02, p50Ms: rows.get('PullImage')?.p50Ms, p99Ms: rows.get('PullImage')?.p99Ms, inFlight: 2, oldestInFlightMs: 30_000 });
    assert.ok(Math.abs((rows.get('PullImage')?.p99Ms ?? 0) - 4000) < 400, 'p99 of the finished pulls');
    assert.deepEqual(rows.get('StopContainer'), { service: 'runtime', method: 'StopContainer', callsPerSecond: 0, errorsPerSecond: 0, p50Ms: undefined, p99Ms: undefined, inFlight: 1, oldestInFlightMs: 12_000 });
    assert.equal(rows.get('(other paths)')?.inFlight, 1, 'a call in flight to another path is on the row of other paths');
    assert.deepEqual(snapshot.podStarts, [{ namespace: 'default', name: 'web', uid: 'u-1', ageMs: 2000, phasesMs: { sandbox: 2000, pulls: 0, creates: 0, starts: 0 }, waitingOn: { method: 'RunPodSandbox', target: undefined, ageMs: 2000 } }]);
  });
});

describe('criscope top: the screen', () => {
  const snapshot: TopSnapshot = {
    v: CALL_ENTRY_VERSION,
    time: '2026-12-07T03:50:00.000Z',
    windowSeconds: 60,
    methods: [
      { service: 'runtime', method: 'ListContainers', callsPerSecond: 2, errorsPerSecond: 0, p50Ms: 1.2, p99Ms: 3.4, inFlight: 0, oldestInFlightMs: undefined },
      { service: 'image', method: 'PullImage', callsPerSecond: 0.05, errorsPerSecond: 0.02, p50Ms: 812, p99Ms: 1210, inFlight: 1, oldestInFlightMs: 192_000 },
    ],
    podStarts: [
      {
        namespace: 'default',
        name: 'web',
        uid: 'u-1',
        ageMs: 200_000,
        phasesMs: { sandbox: 120, pulls: 192_000, creates: 0, starts: 0 },
        waitingOn: { method: 'PullImage', target: 'registry.example/app:1.2', ageMs: 192_000 },
      },
    ],
  };

  it('lists the methods sorted as asked, then the pods starting with their phases and what they wait on', () => {
    const byCalls = topLines(snapshot, 'c');
    const methodAt = (lines: string[], index: number): string | undefined => lines[3 + index]?.split(/\s+/)[0];
    assert.equal(methodAt(byCalls, 0), 'ListContainers');
    assert.match(byCalls[0], /sorted by calls$/);
    const byP99 = topLines(snapshot, 'p');
    assert.equal(methodAt(byP99, 0), 'PullImage');
    assert.match(byP99[3], /^PullImage +image +0\.05 +812 +1210 +0\.02 +1 +3m12s$/);
    assert.match(byCalls.at(-1) ?? '', /^default\/web +3m20s +120ms +3m12s +0ms +0ms +PullImage registry\.example\/app:1\.2 \(3m12s\)$/);
  });

  it('says so when nothing was called and no pod is starting', () => {
    const lines = topLines({ ...snapshot, methods: [], podStarts: [] }, 'e');
    assert.ok(lines.includes('(no call in the last minute)'));
    assert.ok(lines.includes('(no pod starting)'));
  });

  it('steps through the sorts with s', () => {
    assert.deepEqual([nextSort('c'), nextSort('p'), nextSort('n')], ['p', 'e', 'c']);
  });
});

/** A terminal as top sees it: what is written to it, and each raw-mode switch of its keyboard. */
class FakeTerminal {
  text = '';
  readonly rawModes: boolean[] = [];
  readonly out = Object.assign(
    new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.text += chunk.toString();
        done();
      },
    }),
    { isTTY: true, columns: 120, rows: 40 },
  );
  readonly input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (mode: boolean) => this.rawModes.push(mode) });

  run(socketPath: string): Promise<number> {
    return top(socketPath, { once: false }, this.out as unknown as NodeJS.WriteStream, this.input as unknown as NodeJS.ReadStream);
  }

  /** Whether the terminal was given back: raw mode off, the cursor shown and the alternate screen left, last. */
  givenBack(): boolean {
    return this.rawModes.at(-1) === false && this.text.endsWith('\x1b[?25h\x1b[?1049l');
  }
}

/** An admin socket answering /v1/top with `body`. */
async function adminSocket(body: string): Promise<{ path: string; server: Server }> {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-top-')), 'admin.sock');
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, server };
}

describe('criscope top: the live screen', () => {
  const snapshot: TopSnapshot = { v: CALL_ENTRY_VERSION, time: '2026-12-07T03:50:00.000Z', windowSeconds: 60, methods: [], podStarts: [] };

  it('draws on the alternate screen and gives the terminal back on q', async () => {
    const { path, server } = await adminSocket(JSON.stringify(snapshot));
    const terminal = new FakeTerminal();
    try {
      const ended = terminal.run(path);
      await waitFor(() => terminal.text.includes('criscope top'), 'the first screen');
      assert.ok(terminal.text.startsWith('\x1b[?1049h'), 'on the alternate screen');
      assert.deepEqual(terminal.rawModes, [true]);
      terminal.input.write('q');
      assert.equal(await ended, 0);
      assert.ok(terminal.givenBack(), JSON.stringify(terminal.text.slice(-40)));
    } finally {
      server.close();
    }
  });

  it('gives the terminal back when criscope cannot be asked', async () => {
    const terminal = new FakeTerminal();
    await assert.rejects(terminal.run(join(mkdtempSync(join(tmpdir(), 'criscope-top-')), 'none.sock')), /no criscope serves/);
    assert.ok(terminal.givenBack());
  });

  it('gives the terminal back when an answer cannot be drawn', async () => {
    const { path, server } = await adminSocket('{}');
    const terminal = new FakeTerminal();
    try {
      await assert.rejects(terminal.run(path), /answer to \/v1\/top cannot be drawn/);
      assert.ok(terminal.givenBack());
    } finally {
      server.close();
    }
  });
});
