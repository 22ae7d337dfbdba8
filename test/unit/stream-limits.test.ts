import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamLimits } from '../../src/relay/stream-limits.js';
import { prng } from '../support/seeded-random.js';

const MAX_STREAM_ID = 0x7fffffff;

/** What happens on the connection: the client opens a stream, the runtime's GOAWAY is relayed, or criscope drains (and the last-stream-id it must send). */
type Step = { opened: number } | { runtimeGoaway: number } | { drain: number };

interface Case {
  readonly name: string;
  readonly steps: readonly Step[];
  readonly lastStreamIdForClient: number;
  readonly draining: boolean;
  readonly relayed: readonly number[];
  readonly notRelayed: readonly number[];
}

const cases: readonly Case[] = [
  { name: 'a new connection', steps: [], lastStreamIdForClient: 0, draining: false, relayed: [1, 3, MAX_STREAM_ID], notRelayed: [] },
  {
    name: 'streams opened out of order: the highest one counts',
    steps: [{ opened: 1 }, { opened: 7 }, { opened: 3 }],
    lastStreamIdForClient: 7,
    draining: false,
    relayed: [1, 7, 9, MAX_STREAM_ID],
    notRelayed: [],
  },
  {
    name: 'criscope drains: its GOAWAY names the highest stream opened, and later streams go no further',
    steps: [{ opened: 1 }, { opened: 3 }, { drain: 3 }, { opened: 5 }],
    lastStreamIdForClient: 3,
    draining: true,
    relayed: [1, 3],
    notRelayed: [5, 7, MAX_STREAM_ID],
  },
  { name: 'criscope drains before any stream', steps: [{ drain: 0 }, { opened: 1 }], lastStreamIdForClient: 0, draining: true, relayed: [], notRelayed: [1, 3] },
  {
    name: "the runtime's GOAWAY below the highest stream opened bounds what criscope may send",
    steps: [{ opened: 1 }, { opened: 3 }, { opened: 5 }, { opened: 7 }, { runtimeGoaway: 3 }],
    lastStreamIdForClient: 3,
    draining: false,
    relayed: [5, 7, 9],
    notRelayed: [],
  },
  {
    name: "criscope drains after the runtime's GOAWAY: its own promises no more",
    steps: [{ opened: 1 }, { opened: 3 }, { opened: 5 }, { runtimeGoaway: 3 }, { drain: 3 }],
    lastStreamIdForClient: 3,
    draining: true,
    relayed: [1, 3],
    notRelayed: [5],
  },
  {
    name: "the runtime's graceful GOAWAY (2^31-1) bounds nothing",
    steps: [{ opened: 1 }, { runtimeGoaway: MAX_STREAM_ID }, { opened: 3 }, { opened: 5 }],
    lastStreamIdForClient: 5,
    draining: false,
    relayed: [5, 7],
    notRelayed: [],
  },
  {
    name: "a later runtime GOAWAY with a higher id does not raise the bound",
    steps: [{ opened: 1 }, { runtimeGoaway: 1 }, { opened: 3 }, { runtimeGoaway: 9 }, { opened: 11 }],
    lastStreamIdForClient: 1,
    draining: false,
    relayed: [3, 11],
    notRelayed: [],
  },
  {
    name: "the runtime's GOAWAY after criscope's drain lowers the bound, not what criscope relays",
    steps: [{ opened: 1 }, { opened: 3 }, { opened: 5 }, { drain: 5 }, { runtimeGoaway: 1 }],
    lastStreamIdForClient: 1,
    draining: true,
    relayed: [3, 5],
    notRelayed: [7],
  },
  {
    name: "the runtime's GOAWAY 0 (it processed nothing)",
    steps: [{ opened: 1 }, { opened: 3 }, { runtimeGoaway: 0 }, { drain: 0 }],
    lastStreamIdForClient: 0,
    draining: true,
    relayed: [],
    notRelayed: [1, 3],
  },
];

function run(limits: StreamLimits, step: Step): number | undefined {
  if ('opened' in step) limits.clientOpened(step.opened);
  else if ('runtimeGoaway' in step) limits.runtimeGoaway(step.runtimeGoaway);
  else return limits.drain();
  return undefined;
}


describe('StreamLimits', () => {
  for (const testCase of cases) {
    it(testCase.name, () => {
      const limits = new StreamLimits();
      testCase.steps.forEach((step, index) => {
        const sent = run(limits, step);
        if ('drain' in step) assert.equal(sent, step.drain, `the GOAWAY of step ${index + 1}`);
      });
      assert.equal(limits.lastStreamIdForClient(), testCase.lastStreamIdForClient);
      assert.equal(limits.draining, testCase.draining);
      for (const streamId of testCase.relayed) assert.ok(limits.relays(streamId), `stream ${streamId} is relayed`);
      for (const streamId of testCase.notRelayed) assert.ok(!limits.relays(streamId), `stream ${streamId} is not relayed`);
    });
  }

  it('never lets a GOAWAY to the client promise a higher last-stream-id than an earlier one', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const limits = new StreamLimits();
      let highestOpened = 0;
      let nextStreamId = 1;
      // The lowest last-stream-id the client has been sent so far, by the runtime or by criscope.
      let lowestSent = MAX_STREAM_ID;
      let drainedAt: number | undefined;
      for (let turn = 0; turn < 40; turn++) {
        const roll = random();
        const what = `seed ${seed}, turn ${turn}`;
        if (roll < 0.6) {
          nextStreamId += 2 * Math.floor(random() * 3);
          limits.clientOpened(nextStreamId);
          highestOpened = Math.max(highestOpened, nextStreamId);
          nextStreamId += 2;
        } else if (roll < 0.8) {
          const lastStreamId = random() < 0.2 ? MAX_STREAM_ID : Math.floor(random() * (highestOpened + 4));
          limits.runtimeGoaway(lastStreamId);
          lowestSent = Math.min(lowestSent, lastStreamId);
        } else if (roll < 0.9 && drainedAt === undefined) {
          const sent = limits.drain();
          assert.ok(sent <= lowestSent, `${what}: drain sent ${sent} after ${lowestSent}`);
          assert.ok(sent <= highestOpened, `${what}: drain sent ${sent}, above the highest stream opened (${highestOpened})`);
          lowestSent = sent;
          drainedAt = sent;
        }
        const bound = limits.lastStreamIdForClient();
        assert.ok(bound <= lowestSent, `${what}: a GOAWAY now would send ${bound} after ${lowestSent}`);
        assert.equal(bound, Math.min(highestOpened, lowestSent), `${what}: and no lower than it must`);
        if (drainedAt !== undefined) {
          assert.ok(limits.draining);
          if (drainedAt > 0) assert.ok(limits.relays(drainedAt), `${what}: streams up to the drain's ${drainedAt} go on`);
          assert.ok(!limits.relays(drainedAt + 1), `${what}: streams above the drain's ${drainedAt} do not`);
        } else {
          assert.ok(!limits.draining);
          assert.ok(limits.relays(nextStreamId), `${what}: without a drain every stream goes on`);
        }
      }
    }
  });

  it("lowers the runtime's GOAWAY on its way to the client when criscope's drain promised less", () => {
    const limits = new StreamLimits();
    for (const streamId of [1, 3, 5, 7]) limits.clientOpened(streamId);
    assert.equal(limits.drain(), 7);
    limits.clientOpened(9);
    assert.equal(limits.runtimeGoaway(9), 7, 'the client was told 7 already');
    assert.equal(limits.runtimeGoaway(3), 3, 'a lower one goes on as it came');
  });

  it('tells a HEADERS that opens a stream from trailers on one already opened', () => {
    const limits = new StreamLimits();
    assert.equal(limits.clientOpened(1), true);
    assert.equal(limits.clientOpened(5), true);
    assert.equal(limits.clientOpened(5), false, 'trailers on stream 5');
    assert.equal(limits.clientOpened(3), false, 'stream 3 was skipped, so it is closed, not new');
  });

  it("counts no stream above a GOAWAY's last-stream-id as one the runtime may process", () => {
    const limits = new StreamLimits();
    limits.clientOpened(1);
    assert.equal(limits.runtimeMayProcess(3), true, 'no GOAWAY yet');
    limits.runtimeGoaway(1);
    assert.equal(limits.runtimeMayProcess(1), true);
    assert.equal(limits.runtimeMayProcess(3), false);
    assert.equal(limits.relays(3), true, "its frames still go on: the runtime's HPACK table needs them");
  });
});
