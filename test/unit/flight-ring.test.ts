import { strict as assert } from 'node:assert';
import { randomFillSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { CallRecord, type CallFacts } from '../../src/cri/call-record.js';
import { callEntry, callEntryFacts } from '../../src/telemetry/recorder/call-entry.js';
import { keepCall, MAX_STRING_CHARS, readCall } from '../../src/telemetry/recorder/entry-record.js';
import { FlightRing } from '../../src/telemetry/recorder/flight-ring.js';
import { PodIndex } from '../../src/telemetry/recorder/pod-index.js';
import { callFacts, decodedCallFacts } from '../support/call-facts.js';
import { criMethod } from '../support/cri-client.js';

/** Keeps `payload` as one record, reserving `extra` bytes more than it writes (as keepCall does); false when the ring refused it. */
function keep(ring: FlightRing, payload: Buffer, extra = 0): boolean {
  const slot = ring.reserve(payload.length + extra);
  if (slot === undefined) return false;
  payload.copy(slot.buffer, slot.offset);
  ring.commit(payload.length);
  return true;
}

/** A record whose bytes say which it is: its number, repeated to its length. */
const numbered = (number: number, length: number): Buffer => Buffer.alloc(length, number % 251);

/** A small seeded generator, so a failing sequence can be replayed. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('the flight ring', () => {
  it('keeps the last records up to its count, oldest first', () => {
    const ring = new FlightRing(3, 1 << 20);
    for (let number = 0; number < 5; number++) keep(ring, numbered(number, 10));
    assert.deepEqual([...ring].map((record) => record[0]), [2, 3, 4]);
    assert.equal(ring.size, 3);
  });

  it('keeps within its bytes, dropping the oldest, and counts what it holds exactly, length prefixes included', () => {
    const ring = new FlightRing(1000, 2 * (4 + 100) + 10);
    for (let number = 0; number < 10; number++) keep(ring, numbered(number, 100));
    assert.deepEqual([...ring].map((record) => record[0]), [8, 9]);
    assert.equal(ring.bytes, 2 * (4 + 100));
  });

  it('keeps nothing with a bound of 0, and refuses a record larger than its bytes', () => {
    assert.equal(keep(new FlightRing(0, 1 << 20), numbered(1, 10)), false);
    assert.equal(keep(new FlightRing(10, 0), numbered(1, 10)), false);
    const small = new FlightRing(10, 100);
    assert.equal(keep(small, numbered(1, 97)), false);
    assert.equal(keep(small, numbered(2, 96)), true);
    assert.deepEqual([...small].map((record) => record.length), [96]);
  });

  it('refuses a commit longer than what was reserved, or with nothing reserved', () => {
    const ring = new FlightRing(10, 1 << 20);
    assert.throws(() => ring.commit(0), /without reserve/);
    ring.reserve(10);
    assert.throws(() => ring.commit(11), /11 bytes overran the 10/);
    ring.commit(10);
    assert.throws(() => ring.commit(10), /without reserve/, 'one reserve, one commit');
  });

  it('fills the gap before the oldest record exactly, and grows while wrapped, keeping records whole and in order', () => {
    // 64 KiB to start: three records of 20,000 bytes (20,004 with their length) end at 60,012.
    const ring = new FlightRing(3, 1 << 20);
    for (const number of [1, 2, 3]) keep(ring, numbered(number, 20_000));
    // The fourth drops the first (count), does not fit after the third, and wraps into exactly the first's place.
    keep(ring, numbered(4, 20_000));
    assert.deepEqual([...ring].map((record) => [record[0], record.length]), [[2, 20_000], [3, 20_000], [4, 20_000]]);
    // The fifth drops the second; the gap it leaves before the third is too small, so the ring grows, wrapped as it is.
    keep(ring, numbered(5, 30_000));
    assert.deepEqual([...ring].map((record) => [record[0], record.length, record.every((byte) => byte === record[0])]), [[3, 20_000, true], [4, 20_000, true], [5, 30_000, true]]);
    assert.equal(ring.bytes, 3 * 4 + 70_000);
  });

  /** Keeps 20,000 random records of `lengthOf`'s lengths in a ring and in a model of its bounds, and checks them against each other. */
  function againstModel(seed: number, maxRecords: number, maxBytes: number, lengthOf: (random: () => number) => number, check: (ring: FlightRing, model: Buffer[], modelBytes: number, where: string) => void): void {
    const random = seeded(seed);
    const ring = new FlightRing(maxRecords, maxBytes);
    const model: Buffer[] = [];
    let modelBytes = 0;
    for (let number = 0; number < 20_000; number++) {
      const payload = Buffer.alloc(lengthOf(random));
      // Contents do not steer the ring, so they need no seed; they only have to tell records apart.
      randomFillSync(payload);
      if (!keep(ring, payload, Math.floor(random() * payload.length))) continue;
      model.push(payload);
      modelBytes += 4 + payload.length;
      while (model.length > maxRecords || modelBytes > maxBytes) modelBytes -= 4 + (model.shift() as Buffer).length;
      const where = `seed ${seed}, record ${number}`;
      check(ring, model, modelBytes, where);
      // Reading every record back after each is quadratic for a large ring: every 50th then, and the last.
      if (ring.size > 50 && number % 50 !== 0 && number !== 19_999) continue;
      const held = [...ring];
      const newest = model.slice(model.length - held.length);
      assert.ok(held.length <= model.length && held.every((record, index) => record.equals(newest[index])), `${where}: the newest records, in order, unchanged`);
      assert.equal(ring.bytes, held.reduce((sum, kept) => sum + 4 + kept.length, 0), `${where}: bytes counted`);
    }
  }

  it('grows at once to about what its count bound needs, not by doubling: an outgrown buffer is garbage that lingers', () => {
    // 150-byte records: doubling from 64 KiB would end at 512 KiB for 2000 records' 308,000 bytes, after 128 and 256 KiB were outgrown.
    const ring = new FlightRing(2000, 16 * 1024 * 1024);
    const capacities = new Set<number>();
    for (let number = 0; number < 5000; number++) {
      keep(ring, numbered(number, 150));
      capacities.add(ring.capacity);
    }
    assert.equal(ring.size, 2000);
    assert.ok(ring.capacity <= 1.3 * ring.bytes, `capacity ${ring.capacity} for ${ring.bytes} bytes held`);
    assert.deepEqual([...capacities].sort((a, b) => a - b), [64 * 1024, ring.capacity], 'one growth, from the first buffer to the last');
  });

  it('does not take its byte bound for a few large records: too few to say what its count bound needs', () => {
    const ring = new FlightRing(20_000, 16 * 1024 * 1024);
    keep(ring, numbered(1, 100_000));
    keep(ring, numbered(2, 100_000));
    assert.ok(ring.capacity <= 512 * 1024, `capacity ${ring.capacity}`);
  });

  it('holds exactly the newest records its count allows, across growth and wrapping (20,000 random records)', () => {
    for (const [seed, maxRecords] of [
      [1, 50],
      [2, 1000],
      [3, 7],
    ] as const) {
      againstModel(seed, maxRecords, 1 << 20, (random) => Math.floor(random() * 300), (ring, model, modelBytes, where) => {
        assert.equal(ring.size, model.length, where);
        assert.equal(ring.bytes, modelBytes, where);
      });
    }
  });

  it('holds the newest records within its bytes, short of the bound by at most what a record needs in one piece (20,000 random records)', () => {
    const small = 300;
    for (const [seed, maxBytes] of [
      [4, 4096],
      [5, 64 * 1024 + 100],
    ] as const) {
      // Short of the model by at most the end of the buffer left unused at a wrap and the room reserved for the next record, each under two small records.
      againstModel(seed, 1_000_000, maxBytes, (random) => Math.floor(random() * small), (ring, _model, modelBytes, where) => assert.ok(ring.bytes >= modelBytes - 2 * (4 + 2 * small), `${where}: ${ring.bytes} of ${modelBytes}`));
    }
    // Now and then a record nearly as large as the bound: it may empty the ring, and still never breaks it.
    againstModel(6, 1_000_000, 200_000, (random) => (random() < 0.02 ? Math.floor(random() * (200_000 - 4)) : Math.floor(random() * small)), () => undefined);
  });
});

describe('a call kept in the flight ring', () => {
  const sandboxConfig = { metadata: { name: 'web-1', namespace: 'shop', uid: '9a1b2c3d-0000-4000-8000-000000000001' } };
  const calls: { readonly name: string; readonly facts: CallFacts }[] = [
    { name: 'a plain Version call', facts: callFacts() },
    { name: 'a pod sandbox started', facts: decodedCallFacts('RunPodSandbox', { config: sandboxConfig }, { pod_sandbox_id: 'f'.repeat(64) }) },
    {
      name: 'a container created',
      facts: decodedCallFacts('CreateContainer', { pod_sandbox_id: 'f'.repeat(64), config: { metadata: { name: 'app' }, image: { image: 'registry.example/app:1.2' } }, sandbox_config: sandboxConfig }, { container_id: 'c'.repeat(64) }),
    },
    {
      name: 'an exited container’s status, with its exit code and reason',
      facts: decodedCallFacts('ContainerStatus', { container_id: 'c'.repeat(64) }, { status: { id: 'c'.repeat(64), state: 2, exit_code: 137, reason: 'OOMKilled', metadata: { name: 'app' } } }),
    },
    { name: 'a list answer with its items', facts: decodedCallFacts('ListContainers', {}, { containers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] }) },
    {
      name: 'a call policy denied, answered by criscope',
      facts: {
        ...callFacts(criMethod('CreateContainer')),
        grpcStatus: 7,
        grpcMessage: 'criscope policy: privileged',
        answeredByCriscope: true,
        policy: { method: 'CreateContainer', pod: { namespace: 'ns', name: 'p', uid: 'u', labels: {} }, findings: [{ rule: 'security.privileged', action: 'deny', mode: 'enforce', reason: 'privileged ✗' }], denial: 'criscope policy', clamps: [] },
      },
    },
    { name: 'a reset stream', facts: { ...callFacts(), grpcStatus: undefined, resetCode: 8 } },
    { name: 'an error with a message past the length kept, in more than Latin-1', facts: { ...callFacts(), grpcStatus: 2, grpcMessage: `pull failed: ${'é😀'.repeat(MAX_STRING_CHARS)}` } },
    { name: 'an error with a message cut in the middle of a surrogate pair', facts: { ...callFacts(), grpcStatus: 2, grpcMessage: `${'x'.repeat(MAX_STRING_CHARS - 1)}😀 and more` } },
    {
      name: 'a traced call with an unknown method path and large sizes',
      facts: {
        ...callFacts(),
        path: '/runtime.v1alpha2.RuntimeService/Version',
        method: undefined,
        service: 'runtime.v1alpha2.RuntimeService',
        durationSeconds: 12.3456789,
        request: { messages: 1, payloadBytes: 5_000_000_000, first: undefined, encoding: undefined },
        span: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } as CallFacts['span'],
      },
    },
  ];

  for (const { name, facts } of calls) {
    it(`reads back as the entry the recorder streams: ${name}`, () => {
      const record = new CallRecord({ ...facts, startTick: performance.now() - 5 });
      const entryFacts = callEntryFacts(record);
      const ring = new FlightRing(10, 1 << 20);
      const kept = new PodIndex();
      keepCall(ring, record, entryFacts, kept.learnOrFind(record.identity));
      const [held] = [...ring];
      const expected = callEntry(record, entryFacts);
      const message = expected.message;
      if (message !== undefined && message.length > MAX_STRING_CHARS) {
        const cut = readCall(held).message ?? '';
        assert.ok(message.startsWith(cut) && cut.length >= MAX_STRING_CHARS - 1, 'a long message is cut, never changed');
        assert.equal(cut.includes('\ufffd'), false, 'no half of a surrogate pair left behind');
        assert.deepEqual({ ...readCall(held), message: undefined }, { ...expected, message: undefined });
      } else {
        assert.deepEqual(readCall(held), expected);
        assert.equal(JSON.stringify(readCall(held)), JSON.stringify(expected), 'the same JSON line, field for field');
      }
    });
  }

  it('carries the pod the index found for a call that names only its container', () => {
    const index = new PodIndex();
    const ring = new FlightRing(10, 1 << 20);
    const create = new CallRecord(calls[2].facts);
    keepCall(ring, create, callEntryFacts(create), index.learnOrFind(create.identity));
    const start = new CallRecord(decodedCallFacts('StartContainer', { container_id: 'c'.repeat(64) }, {}));
    keepCall(ring, start, callEntryFacts(start), index.learnOrFind(start.identity));
    const [, started] = [...ring].map(readCall);
    assert.equal(started.method, 'StartContainer');
    assert.deepEqual([started.podNamespace, started.podName, started.podUid], ['shop', 'web-1', sandboxConfig.metadata.uid]);
  });
});
