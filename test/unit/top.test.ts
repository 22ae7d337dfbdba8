import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CallRecord } from '../../src/cri/call-record.js';
import { nextSort, topLines } from '../../src/cli/top-screen.js';
import { CALL_ENTRY_VERSION } from '../../src/telemetry/recorder/call-entry.js';
import { CallRates } from '../../src/telemetry/top/call-rates.js';
import { BIN_COUNT, binMiddleMs, durationBin, MethodWindow, WINDOW_SECONDS } from '../../src/telemetry/top/method-window.js';
import type { TopSnapshot } from '../../src/telemetry/top/top-view.js';
import { callFacts } from '../support/call-facts.js';
import { criMethod } from '../support/cri-client.js';

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
    const summary = window.summary(1000, 0);
    assert.equal(summary.calls, 100);
    assert.equal(summary.errors, 1);
    assert.equal(summary.seconds, WINDOW_SECONDS);
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
    const summary = window.summary(19, 10);
    assert.equal(summary.seconds, 10);
    assert.equal(summary.calls / summary.seconds, 1);
  });

  it('follows each method apart, from the records', () => {
    const rates = new CallRates(0);
    const record = (method: string, durationSeconds: number, grpcStatus = 0): CallRecord => new CallRecord({ ...callFacts(criMethod(method)), startTick: 5000, durationSeconds, grpcStatus });
    for (let index = 0; index < 4; index++) rates.onCall(record('ListContainers', 0.002));
    rates.onCall(record('PullImage', 2, 5));
    const byMethod = new Map(rates.summaries(9000).map((summary) => [summary.method, summary]));
    assert.equal(byMethod.get('ListContainers')?.calls, 4);
    assert.equal(byMethod.get('ListContainers')?.errors, 0);
    assert.equal(byMethod.get('PullImage')?.errors, 1);
    assert.equal(byMethod.get('PullImage')?.service, 'runtime.v1.ImageService');
    assert.equal(byMethod.get('ListContainers')?.seconds, 10, 'criscope has counted for ten seconds');
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
