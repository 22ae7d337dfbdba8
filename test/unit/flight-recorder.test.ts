import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CallRecord } from '../../src/cri/call-record.js';
import { callsQuery } from '../../src/http/admin-server.js';
import { parseDuration, tailQuery, type TailOptions } from '../../src/cli/tail.js';
import { CALL_ENTRY_VERSION, callEntry, type CallEntry } from '../../src/telemetry/recorder/call-entry.js';
import { entryMatcher } from '../../src/telemetry/recorder/entry-filter.js';
import { FlightRecorder, TooManySubscribersError } from '../../src/telemetry/recorder/flight-recorder.js';
import { PodIndex } from '../../src/telemetry/recorder/pod-index.js';
import { Subscriber, type LineSink } from '../../src/telemetry/recorder/subscriber.js';
import { callFacts } from '../support/call-facts.js';
import { criMethod } from '../support/cri-client.js';
import { waitFor } from '../support/wait.js';

function entry(overrides: Partial<CallEntry> = {}): CallEntry {
  return { v: CALL_ENTRY_VERSION, time: new Date(0).toISOString(), service: 'runtime', method: 'Version', status: 'OK', code: 0, durationMs: 1, requestBytes: 0, responseBytes: 0, ...overrides };
}

/** A reader's socket: keeps what it got; `writableLength` is how far its reader lags. */
class LaggingSink implements LineSink {
  readonly lines: string[] = [];
  writableLength = 0;
  write(chunk: string | Uint8Array): boolean {
    this.lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }
}

describe('an entry filter', () => {
  const web = entry({ podNamespace: 'shop', podName: 'web-1', method: 'CreateContainer' });
  const db = entry({ podNamespace: 'shop', podName: 'db-0', method: 'StartContainer', code: 5, status: 'NOT_FOUND', durationMs: 300 });
  const list = entry({ method: 'ListContainers', service: 'runtime' });
  const pull = entry({ method: 'PullImage', service: 'image', podNamespace: 'other', podName: 'web-1', policy: { verdict: 'denied', rule: 'images.allowed', reason: 'no' }, code: 7 });
  const all = [web, db, list, pull];
  const pick = (filter: Parameters<typeof entryMatcher>[0]): CallEntry[] => all.filter(entryMatcher(filter));

  it('matches pods by NAMESPACE/NAME globs, and leaves out calls of no pod', () => {
    assert.deepEqual(pick({ pods: ['shop/web-*'] }), [web]);
    assert.deepEqual(pick({ pods: ['*/web-1'] }), [web, pull]);
    assert.deepEqual(pick({ pods: ['shop/web-*', 'shop/db-*'] }), [web, db]);
  });

  it('matches namespaces, method globs, errors, denials, slowness and the service', () => {
    assert.deepEqual(pick({ namespaces: ['shop'] }), [web, db]);
    assert.deepEqual(pick({ methods: ['*Container*'] }), [web, db, list]);
    assert.deepEqual(pick({ errors: true }), [db, pull]);
    assert.deepEqual(pick({ denied: true }), [pull]);
    assert.deepEqual(pick({ slowerThanMs: 200 }), [db]);
    assert.deepEqual(pick({ service: 'image' }), [pull]);
    assert.deepEqual(pick({ errors: true, service: 'runtime' }), [db]);
    assert.deepEqual(pick({}), all);
  });
});

describe('a subscriber', () => {
  it('gets the calls it wants, loses them while its reader lags, and is told how many before the next', () => {
    const sink = new LaggingSink();
    const subscriber = new Subscriber(entryMatcher({ methods: ['Version'] }), sink, 100);
    const linesMade: string[] = [];
    const line = (text: string) => (): string => {
      linesMade.push(text);
      return text;
    };
    subscriber.offer(entry(), line('first\n'));
    subscriber.offer(entry({ method: 'ListContainers' }), line('unwanted\n'));
    subscriber.flush();
    sink.writableLength = 101;
    for (let index = 0; index < 7; index++) subscriber.offer(entry(), line('dropped\n'));
    assert.equal(subscriber.lost, 7);
    assert.deepEqual(linesMade, ['first\n'], 'no line is made for a call the subscriber does not want or loses');
    sink.writableLength = 0;
    subscriber.offer(entry(), () => 'after\n');
    subscriber.flush();
    assert.deepEqual(sink.lines, ['first\n', `${JSON.stringify({ v: 1, lost: 7 })}\nafter\n`]);
  });

  it('writes the lines of calls that end close together in one batch, soon', async () => {
    const sink = new LaggingSink();
    const subscriber = new Subscriber(entryMatcher({}), sink, 1 << 20);
    for (const text of ['a\n', 'b\n', 'c\n']) subscriber.offer(entry(), () => text);
    assert.deepEqual(sink.lines, [], 'not one write a call');
    await waitFor(() => sink.lines.length > 0, 'the batch to be written');
    assert.deepEqual(sink.lines, ['a\nb\nc\n']);
  });

  it('writes batches of any size and any text whole, and never touches the bytes of a batch it handed on', () => {
    // The sink keeps what it was given, as a socket does until its reader takes it.
    const chunks: (string | Uint8Array)[] = [];
    const subscriber = new Subscriber(entryMatcher({}), { writableLength: 0, write: (chunk) => chunks.push(chunk) }, 1 << 24);
    const lines = Array.from({ length: 400 }, (_, index) => `${index} ${'é😀"\\'.repeat(index % 50)} ${'x'.repeat(index)}\n`);
    // Three bytes a character, more than the first buffer holds: room is made for bytes, not characters.
    lines[0] = `${'€'.repeat(8000)}\n`;
    const firstBatch = lines.slice(0, 300);
    for (const text of firstBatch) subscriber.offer(entry(), () => text);
    subscriber.flush();
    const written = chunks[0];
    assert.ok(written instanceof Uint8Array && written.length > 64 * 1024, 'a batch larger than the first buffer');
    const firstBytes = Buffer.from(written);
    for (const text of lines.slice(300)) subscriber.offer(entry(), () => text);
    subscriber.flush();
    assert.deepEqual(Buffer.from(written), firstBytes, 'the first batch is unchanged after the next was gathered and written');
    assert.equal(chunks.map((chunk) => Buffer.from(chunk).toString()).join(''), lines.join(''));
  });

  it('hands a lagging reader no more memory than the bytes its queue bound counts', () => {
    // A burst grows the batch buffer; the single lines after it must not each pin a buffer that large.
    const chunks: Uint8Array[] = [];
    const subscriber = new Subscriber(entryMatcher({}), { writableLength: 0, write: (chunk) => chunks.push(chunk as Uint8Array) }, 1 << 24);
    for (let index = 0; index < 2000; index++) subscriber.offer(entry(), () => `${'x'.repeat(399)}\n`);
    subscriber.flush();
    chunks.length = 0;
    for (let batch = 0; batch < 100; batch++) {
      subscriber.offer(entry(), () => `${'y'.repeat(399)}\n`);
      subscriber.flush();
    }
    const held = new Set(chunks.map((chunk) => chunk.buffer));
    const heldBytes = [...held].reduce((total, buffer) => total + buffer.byteLength, 0);
    assert.ok(heldBytes <= 2 * 100 * 400 + 16 * 1024, `100 lines of 400 bytes hold ${heldBytes} bytes of memory`);
  });

  it('counts a batch not yet written against its queue', () => {
    const sink = new LaggingSink();
    const subscriber = new Subscriber(entryMatcher({}), sink, 40);
    sink.writableLength = 36;
    for (let index = 0; index < 3; index++) subscriber.offer(entry(), () => 'line\n');
    assert.equal(subscriber.lost, 2, 'with 36 bytes unread, the 5 bytes of the first line in the batch leave no room for more');
    subscriber.close();
  });

  it('writes a batch at once when it holds a quarter of its queue bound, and keeps gathering after', () => {
    const sink = new LaggingSink();
    const subscriber = new Subscriber(entryMatcher({}), sink, 400);
    for (let index = 0; index < 25; index++) subscriber.offer(entry(), () => `${String(index).padStart(9, '0')}\n`);
    assert.deepEqual(
      sink.lines.map((batch) => batch.length),
      [100, 100],
      'two full batches of ten 10-byte lines written, with no timer',
    );
    subscriber.flush();
    assert.equal(sink.lines.join(''), Array.from({ length: 25 }, (_, index) => `${String(index).padStart(9, '0')}\n`).join(''));
  });
});

describe('the flight recorder', () => {
  const record = (methodName: string, startTick: number): CallRecord => new CallRecord({ ...callFacts(criMethod(methodName)), startTick });

  it('holds finished calls as versioned entries, and hands them to subscribers as JSON lines', () => {
    const recorder = new FlightRecorder({ maxRecords: 10, maxBytes: 1 << 20, maxSubscribers: 1, maxQueuedBytesPerSubscriber: 1 << 20 });
    const sink = new LaggingSink();
    const { subscriber } = recorder.subscribe({ methods: ['Version'] }, sink);
    recorder.onCall(record('Version', 1));
    recorder.onCall(record('ListContainers', 1000));
    subscriber.flush();
    assert.equal(recorder.heldCalls, 2);
    const held = recorder.heldNow();
    assert.deepEqual(held.map((call) => call.method), ['Version', 'ListContainers']);
    assert.deepEqual(recorder.heldNow(Date.parse(held[1].time)).map((call) => call.method), ['ListContainers'], 'only the calls that started from then on');
    assert.equal(sink.lines.length, 1);
    const streamed = JSON.parse(sink.lines[0]) as CallEntry;
    assert.equal(streamed.v, 1);
    assert.equal(streamed.method, 'Version');
    assert.equal(streamed.status, 'OK');
  });

  it('refuses a subscriber past its limit, and takes one again when another leaves', () => {
    const recorder = new FlightRecorder({ maxRecords: 10, maxBytes: 1 << 20, maxSubscribers: 2, maxQueuedBytesPerSubscriber: 1 << 20 });
    const leaving = recorder.subscribe({}, new LaggingSink());
    recorder.subscribe({}, new LaggingSink());
    assert.throws(() => recorder.subscribe({}, new LaggingSink()), (error: unknown) => error instanceof TooManySubscribersError && /2 subscribers/.test(error.message));
    leaving.end();
    recorder.subscribe({}, new LaggingSink());
  });

  it('keeps a follower’s live calls waiting, in order and within its queue, until the held ones are written', () => {
    const recorder = new FlightRecorder({ maxRecords: 10, maxBytes: 1 << 20, maxSubscribers: 1, maxQueuedBytesPerSubscriber: 1 << 20 });
    const sink = new LaggingSink();
    const { subscriber } = recorder.subscribe({}, sink, true);
    recorder.onCall(record('Version', 1));
    recorder.onCall(record('Status', 2));
    assert.deepEqual(sink.lines, [], 'nothing live before the held calls');
    sink.write('held\n');
    subscriber.release();
    assert.deepEqual(sink.lines.map((line) => (line === 'held\n' ? 'held' : (JSON.parse(line) as CallEntry).method)), ['held', 'Version', 'Status']);
  });

  it('makes an entry of a denied call with the rule, and of a reset call with RST', () => {
    const method = criMethod('CreateContainer');
    const denied = callEntry(new CallRecord({ ...callFacts(method), grpcStatus: 7, grpcMessage: 'criscope policy', answeredByCriscope: true, policy: { method: 'CreateContainer', pod: { namespace: 'ns', name: 'p', uid: 'u', labels: {} }, findings: [{ rule: 'security.privileged', action: 'deny', mode: 'enforce', reason: 'privileged' }], denial: 'criscope policy', clamps: [] } }));
    assert.deepEqual(denied.policy, { verdict: 'denied', rule: 'security.privileged', reason: 'privileged' });
    assert.equal(denied.status, 'PERMISSION_DENIED');
    assert.equal(denied.byCriscope, true);
    const reset = callEntry(new CallRecord({ ...callFacts(method), grpcStatus: undefined, resetCode: 8 }));
    assert.equal(reset.status, 'RST(8)');
  });
});

describe('the admin API’s /v1/calls query and criscope tail’s flags', () => {
  it('refuses an unknown parameter or a bad value, naming it', () => {
    assert.throws(() => callsQuery(new URLSearchParams('pods=x')), /unknown parameter "pods"/);
    assert.throws(() => callsQuery(new URLSearchParams('service=kubelet')), /service must be runtime or image/);
    assert.throws(() => callsQuery(new URLSearchParams('slowerThanMs=fast')), /slowerThanMs must be a number/);
    assert.throws(() => callsQuery(new URLSearchParams('follow=yes')), /follow must be 1 or 0/);
  });

  it('read what tail asks, unchanged', () => {
    const options: TailOptions = { pods: ['ns/a*'], namespaces: ['ns'], methods: ['*Container*', 'PullImage'], errors: true, denied: false, slowerThanMs: 200, service: 'runtime', json: false, sinceMs: 600_000, follow: true };
    const query = callsQuery(tailQuery(options, 1_000_000));
    assert.deepEqual(query.filter, { pods: ['ns/a*'], namespaces: ['ns'], methods: ['*Container*', 'PullImage'], errors: true, denied: false, slowerThanMs: 200, service: 'runtime' });
    assert.equal(query.sinceMs, 400_000);
    assert.equal(query.follow, true);
  });

  it('takes durations as tail’s flags write them', () => {
    assert.equal(parseDuration('200ms', '--slower-than'), 200);
    assert.equal(parseDuration('1.5s', '--slower-than'), 1500);
    assert.equal(parseDuration('10m', '--since'), 600_000);
    assert.equal(parseDuration('1h', '--since'), 3_600_000);
    assert.throws(() => parseDuration('10', '--since'), /--since takes a duration/);
  });
});

describe('the pod index', () => {
  it('shows a call that names only a container or sandbox with the pod that was named with it', () => {
    const index = new PodIndex();
    assert.equal(index.learnOrFind({ podNamespace: 'ns', podName: 'web', podUid: 'u1', sandboxId: 's1' }), undefined, 'a call naming its pod stands as it is');
    index.learnOrFind({ podNamespace: 'ns', podName: 'web', podUid: 'u1', sandboxId: 's1', containerId: 'c1' });
    assert.deepEqual(index.learnOrFind({ containerId: 'c1' }), { podNamespace: 'ns', podName: 'web', podUid: 'u1' });
    assert.equal(index.learnOrFind({ sandboxId: 's1' })?.podNamespace, 'ns');
    assert.equal(index.learnOrFind({ containerId: 'unknown' }), undefined);
    assert.equal(index.completeOnly(entry({ method: 'StartContainer', containerId: 'c1' })).podName, 'web');
  });
});
