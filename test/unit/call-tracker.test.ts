import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CallRecord } from '../../src/cri/call-record.js';
import { CallTracker } from '../../src/relay/call-tracker.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { criMethod, criTable } from '../support/cri-client.js';
import { grpcFrame } from '../support/raw-h2.js';
import { OPEN_GATE } from '../../src/relay/request-gate.js';

const LIST_CONTAINERS = '/runtime.v1.RuntimeService/ListContainers';
const RUN_POD_SANDBOX = '/runtime.v1.RuntimeService/RunPodSandbox';
const KIB = 1024;

/** A ListContainersResponse of `count` containers, each with an id of about 1 KiB. */
function listAnswer(count: number): Buffer {
  const type = criMethod('ListContainers').responseType;
  const containers = Array.from({ length: count }, (_, index) => ({ id: `${index}-`.padEnd(KIB, 'x') }));
  return Buffer.from(type.encode(type.fromObject({ containers })).finish());
}

/** A RunPodSandboxResponse, whose sandbox id the record reads: the relay keeps it whole. */
function sandboxAnswer(sandboxId: string): Buffer {
  const type = criMethod('RunPodSandbox').responseType;
  return Buffer.from(type.encode(type.fromObject({ pod_sandbox_id: sandboxId })).finish());
}

/** A tracker on a connection with a budget of `limit` bytes, and the records it hands over. */
function trackerWith(limit: number): { tracker: CallTracker; budget: KeepBudget; records: CallRecord[] } {
  const records: CallRecord[] = [];
  const budget = new KeepBudget(limit);
  const context = { table: criTable, observer: { onCall: (record: CallRecord) => records.push(record) }, keepMessagesUpTo: 64 * KIB, maxKeptBytesPerConnection: limit, log: createLogger('silent'), gate: OPEN_GATE };
  return { tracker: new CallTracker(context, budget, () => undefined), budget, records };
}

/** Starts a call of `path` on `streamId` and lets its whole answer through. */
function answered(tracker: CallTracker, path: string, streamId: number, answer: Buffer): void {
  const call = tracker.requestHeaders(streamId, [':path', path]);
  assert.ok(call);
  call.requestScanner.push(grpcFrame(Buffer.alloc(0)));
  tracker.responseHeaders(streamId, [':status', '200'], false);
  call.responseScanner.push(grpcFrame(answer));
}

const recordsHandedOver = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CallTracker and the keep budget', () => {
  const sandboxId = 'sandbox-'.padEnd(20 * KIB, 'x');

  it('keeps answers while the budget lasts, records the one left out as not decoded, and gets every byte back', async () => {
    const answer = sandboxAnswer(sandboxId);
    const { tracker, budget, records } = trackerWith(2 * answer.length + 100);
    for (const streamId of [1, 3, 5]) answered(tracker, RUN_POD_SANDBOX, streamId, answer);
    assert.equal(budget.used, 2 * answer.length, 'two answers kept, the third refused');
    for (const streamId of [1, 3, 5]) tracker.responseHeaders(streamId, ['grpc-status', '0'], true);
    await recordsHandedOver();
    assert.equal(budget.used, 0, 'given back once the records are handed over');
    assert.deepEqual(
      records.map((record) => record.identity.sandboxId),
      [sandboxId, sandboxId, undefined],
    );
    const [kept, , leftOut] = records;
    assert.equal(kept.decodeError, undefined);
    assert.equal(leftOut.code, 0, 'the call itself succeeded');
    assert.equal(leftOut.response.notKept, 'over budget');
    assert.equal(leftOut.decodeError?.direction, 'response');
    assert.match(leftOut.decodeError?.message ?? '', /not kept for decoding: the connection's kept-bytes limit \(maxKeptBytesPerConnection\) was reached/);
  });

  it('lends the bytes of a recorded call to the next one', async () => {
    const answer = sandboxAnswer(sandboxId);
    const { tracker, budget, records } = trackerWith(answer.length);
    answered(tracker, RUN_POD_SANDBOX, 1, answer);
    tracker.responseHeaders(1, ['grpc-status', '0'], true);
    await recordsHandedOver();
    answered(tracker, RUN_POD_SANDBOX, 3, answer);
    tracker.responseHeaders(3, ['grpc-status', '0'], true);
    await recordsHandedOver();
    assert.deepEqual(
      records.map((record) => record.identity.sandboxId),
      [sandboxId, sandboxId],
    );
    assert.equal(budget.used, 0);
  });

  it('counts list answers as they pass, taking nothing from the budget, however large', async () => {
    const answer = listAnswer(200);
    const { tracker, budget, records } = trackerWith(KIB);
    answered(tracker, LIST_CONTAINERS, 1, answer);
    assert.equal(budget.used, 0);
    tracker.responseHeaders(1, ['grpc-status', '0'], true);
    await recordsHandedOver();
    assert.equal(records[0].responseItems, 200);
    assert.equal(records[0].decodeError, undefined);
    assert.equal(records[0].response.first, undefined, 'nothing kept');
  });

  it('gets back what forgotten calls kept, whole or halfway', () => {
    const answer = sandboxAnswer(sandboxId);
    const { tracker, budget, records } = trackerWith(4 * answer.length);
    answered(tracker, RUN_POD_SANDBOX, 1, answer);
    const halfway = tracker.requestHeaders(3, [':path', RUN_POD_SANDBOX]);
    halfway?.responseScanner.push(grpcFrame(answer).subarray(0, 100));
    assert.equal(budget.used, 2 * answer.length);
    tracker.forgetAll();
    assert.equal(budget.used, 0);
    assert.equal(records.length, 0, 'no records for forgotten calls');
  });
});
