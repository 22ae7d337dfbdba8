import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallRecord } from '../../src/cri/call-record.js';
import type { TrackingContext } from '../../src/relay/call-tracker.js';
import { OPEN_GATE } from '../../src/relay/request-gate.js';
import { WARM_UP_PATHS, warmUp } from '../../src/relay/warm-up.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { criTable } from '../support/cri-client.js';
import { startStubCriServer } from '../support/stub-cri-server.js';
import { waitFor } from '../support/wait.js';

const log = createLogger('silent');

function tracking(records: CallRecord[]): TrackingContext {
  return { table: criTable, observer: { onCall: (record) => records.push(record) }, keepMessagesUpTo: 1024 * 1024, maxKeptBytesPerConnection: 4 * 1024 * 1024, log, gate: OPEN_GATE };
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
  });
});
