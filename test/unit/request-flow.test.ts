import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ClientDataFate, DEFAULT_WINDOW, RequestFlow } from '../../src/relay/request-flow.js';
import { prng } from '../support/seeded-random.js';

/** Whole numbers below a bound, from a seeded generator, so a failing sequence replays from its seed. */
function randomSource(seed: number): (below: number) => number {
  const next = prng(seed);
  return (below) => Math.floor(next() * below);
}

/** The runtime as a strict receiver: every window it granted, and what arrived against it. */
class StrictReceiver {
  connection = DEFAULT_WINDOW;
  connectionUnacknowledged = 0;
  readonly streams = new Map<number, { window: number; unacknowledged: number }>();

  constructor(private initialWindow: number) {}

  open(streamId: number): void {
    this.streams.set(streamId, { window: this.initialWindow, unacknowledged: 0 });
  }

  /** Its new SETTINGS_INITIAL_WINDOW_SIZE is in force once the client's ACK has come (as nghttp2 counts). */
  applyInitialWindow(value: number): void {
    for (const stream of this.streams.values()) stream.window += value - this.initialWindow;
    this.initialWindow = value;
  }

  receive(streamId: number, bytes: number, what: string): void {
    const stream = this.streams.get(streamId);
    assert.ok(stream, `${what}: DATA on stream ${streamId}, which the runtime does not know`);
    assert.ok(bytes <= this.connection, `${what}: ${bytes} bytes overrun the runtime's connection window of ${this.connection}`);
    assert.ok(bytes <= stream.window, `${what}: ${bytes} bytes overrun stream ${streamId}'s window of ${stream.window}`);
    this.connection -= bytes;
    this.connectionUnacknowledged += bytes;
    stream.window -= bytes;
    stream.unacknowledged += bytes;
  }
}

/** The client as a sender that keeps to the credit it was given. */
class PoliteSender {
  connection = DEFAULT_WINDOW;
  readonly streams = new Map<number, number>();
}

interface OwnedStream {
  pending: number;
  /** Held to be judged: criscope credits what it takes in at once. */
  judging: boolean;
}

/**
 * One random sequence: a client that keeps to its windows, criscope's
 * accounting in between, and a runtime that checks every byte against what it
 * granted. Returns a description of each step for the failure message.
 */
function runSequence(seed: number, steps: number): void {
  const random = randomSource(seed);
  const windowSizes = [DEFAULT_WINDOW, 1024, 16_384, 1 << 20];
  const initialWindow = windowSizes[random(4)];
  /** The client's view of the runtime's initial window, and the runtime SETTINGS it has not yet ACKed. */
  let clientInitial = initialWindow;
  const unacknowledged: number[] = [];
  const flow = new RequestFlow();
  const runtime = new StrictReceiver(initialWindow);
  const client = new PoliteSender();
  flow.runtimeSettings(initialWindow);
  flow.clientAckedSettings();
  const owned = new Map<number, OwnedStream>();
  const waiting: { streamId: number; bytes: number }[] = [];
  let nextStream = 1;
  const what = (step: number): string => `seed ${seed}, step ${step}`;

  const giveClientCredit = (): void => {
    client.connection += flow.takeClientCredit();
  };
  const sendWaiting = (step: number): void => {
    while (waiting.length > 0 && flow.fitsRuntime(waiting[0].bytes)) {
      const frame = waiting.shift() as { streamId: number; bytes: number };
      runtime.receive(frame.streamId, frame.bytes, what(step));
      flow.queuedSent(frame.bytes);
    }
  };
  const sendOwned = (step: number, streamId: number, stream: OwnedStream, all: boolean): void => {
    const sendable = Math.min(stream.pending, flow.sendable(streamId));
    const bytes = all ? sendable : random(sendable + 1);
    if (bytes === 0) return;
    runtime.receive(streamId, bytes, `${what(step)} (held DATA criscope sent)`);
    flow.sent(streamId, bytes);
    stream.pending -= bytes;
  };

  for (let step = 0; step < steps; step++) {
    switch (random(10)) {
      case 0: {
        const streamId = nextStream;
        nextStream += 2;
        runtime.open(streamId);
        client.streams.set(streamId, clientInitial);
        if (random(2) === 0) {
          flow.own(streamId);
          owned.set(streamId, { pending: 0, judging: random(2) === 0 });
        }
        break;
      }
      case 1:
      case 2: {
        const open = [...client.streams.keys()];
        if (open.length === 0) break;
        const streamId = open[random(open.length)];
        const room = Math.min(client.connection, client.streams.get(streamId) ?? 0, 16_384);
        if (room <= 0) break;
        const length = 1 + random(room);
        const padding = random(Math.min(length, 256));
        const fate = flow.clientData(streamId, length, length - padding);
        assert.ok(fate !== ClientDataFate.ConnectionOverrun && fate !== ClientDataFate.StreamOverrun, `${what(step)}: a client within its windows was refused`);
        client.connection -= length;
        client.streams.set(streamId, (client.streams.get(streamId) ?? 0) - length);
        if (fate === ClientDataFate.Forward) runtime.receive(streamId, length, `${what(step)} (pass-through DATA)`);
        else if (fate === ClientDataFate.Queue) waiting.push({ streamId, bytes: length });
        else {
          const stream = owned.get(streamId) as OwnedStream;
          stream.pending += length - padding;
          // As the relay does: bytes held to be judged are credited at once, ahead of the runtime; padding always is.
          const ahead = stream.judging ? length - padding : 0;
          client.streams.set(streamId, (client.streams.get(streamId) ?? 0) + flow.creditClientStream(streamId, ahead, padding));
          giveClientCredit();
        }
        break;
      }
      case 3: {
        // A verdict: the judged stream goes on, perhaps rewritten longer or shorter.
        for (const [streamId, stream] of owned) {
          if (!stream.judging) continue;
          stream.judging = false;
          const delta = random(3) === 0 ? -random(stream.pending + 1) : random(40);
          flow.resized(streamId, delta);
          stream.pending += delta;
          giveClientCredit();
          break;
        }
        break;
      }
      case 4: {
        sendWaiting(step);
        for (const [streamId, stream] of owned) if (!stream.judging) sendOwned(step, streamId, stream, false);
        break;
      }
      case 5: {
        const increment = random(runtime.connectionUnacknowledged + 1);
        runtime.connectionUnacknowledged -= increment;
        runtime.connection += increment;
        client.connection += flow.runtimeWindowUpdate(0, increment);
        break;
      }
      case 6: {
        for (const [streamId, stream] of runtime.streams) {
          if (stream.unacknowledged === 0) continue;
          const increment = 1 + random(stream.unacknowledged);
          stream.unacknowledged -= increment;
          stream.window += increment;
          const passOn = flow.runtimeWindowUpdate(streamId, increment);
          const window = client.streams.get(streamId);
          if (window !== undefined) client.streams.set(streamId, window + passOn);
          break;
        }
        break;
      }
      case 8: {
        // The runtime changes every stream's initial window.
        const value = windowSizes[random(4)];
        unacknowledged.push(value);
        flow.runtimeSettings(value);
        break;
      }
      case 9: {
        // The client reads the oldest of those SETTINGS and ACKs it; the runtime counts by it from the ACK on.
        const value = unacknowledged.shift();
        if (value === undefined) break;
        for (const [streamId, window] of client.streams) client.streams.set(streamId, window + value - clientInitial);
        clientInitial = value;
        flow.clientAckedSettings();
        runtime.applyInitialWindow(value);
        break;
      }
      default: {
        // A held stream denied: what it held never goes on.
        const [first] = owned;
        if (first === undefined || random(4) !== 0) break;
        const [streamId, stream] = first;
        flow.disown(streamId, stream.pending);
        owned.delete(streamId);
        client.streams.delete(streamId);
        runtime.streams.delete(streamId);
        giveClientCredit();
      }
    }
    assert.equal(flow.runtimeConnectionWindow, runtime.connection, `${what(step)}: criscope's view of the runtime's window is the runtime's`);
    assert.equal(flow.clientConnectionWindow, client.connection, `${what(step)}: criscope's view of the client's window is the client's`);
  }

  // Whatever was accepted goes on once the runtime credits what it received: nothing is stranded.
  for (let value = unacknowledged.shift(); value !== undefined; value = unacknowledged.shift()) {
    flow.clientAckedSettings();
    runtime.applyInitialWindow(value);
  }
  for (const stream of owned.values()) stream.judging = false;
  for (let round = 0; round < 1000 && (flow.pending > 0 || flow.queued > 0); round++) {
    sendWaiting(steps);
    for (const [streamId, stream] of owned) sendOwned(steps, streamId, stream, true);
    for (const [streamId, stream] of runtime.streams) {
      if (stream.unacknowledged > 0) {
        stream.window += stream.unacknowledged;
        flow.runtimeWindowUpdate(streamId, stream.unacknowledged);
        stream.unacknowledged = 0;
      }
    }
    runtime.connection += runtime.connectionUnacknowledged;
    client.connection += flow.runtimeWindowUpdate(0, runtime.connectionUnacknowledged);
    runtime.connectionUnacknowledged = 0;
  }
  assert.equal(flow.pending, 0, `seed ${seed}: pending bytes were stranded`);
  assert.equal(flow.queued, 0, `seed ${seed}: waiting DATA was stranded`);
  assert.ok(client.connection <= runtime.connection, `seed ${seed}: the client holds no more credit than the runtime granted`);
}

describe('request flow control, over random sequences of frames', () => {
  it('never overruns a runtime window, never refuses a client within its own, and strands nothing', () => {
    for (let seed = 1; seed <= 400; seed++) runSequence(seed, 400);
  });
});

describe('request flow control, case by case', () => {
  it('passes DATA straight on, and the runtime credit straight back, when criscope owns no stream', () => {
    const flow = new RequestFlow();
    assert.equal(flow.clientData(1, 1000, 1000), ClientDataFate.Forward);
    assert.equal(flow.runtimeWindowUpdate(0, 1000), 1000);
    assert.equal(flow.runtimeWindowUpdate(1, 1000), 1000);
    assert.equal(flow.runtimeConnectionWindow, DEFAULT_WINDOW);
  });

  it('refuses DATA past the connection window, and past an owned stream window', () => {
    const flow = new RequestFlow();
    flow.runtimeSettings(100);
    flow.clientAckedSettings();
    flow.own(1);
    assert.equal(flow.clientData(1, 101, 101), ClientDataFate.StreamOverrun);
    assert.equal(flow.clientData(3, DEFAULT_WINDOW + 1, 0), ClientDataFate.ConnectionOverrun);
  });

  it('spends runtime credit a lengthened request needs before giving the client any, and queues DATA that no longer fits', () => {
    const flow = new RequestFlow();
    flow.runtimeSettings(1 << 20);
    flow.clientAckedSettings();
    flow.own(1);
    assert.equal(flow.clientData(1, 60_000, 60_000), ClientDataFate.Hold);
    flow.resized(1, 10_000);
    assert.equal(flow.sendable(1), DEFAULT_WINDOW, 'no more than the runtime granted');
    flow.sent(1, DEFAULT_WINDOW);
    assert.equal(flow.clientData(3, 5_000, 5_000), ClientDataFate.Queue, 'the client held credit the lengthened request spent');
    assert.equal(flow.runtimeWindowUpdate(0, 8_000), 0, 'what criscope holds, and the waiting DATA, are paid first');
    assert.equal(flow.sendable(1), 0, 'waiting pass-through DATA goes first');
    assert.ok(flow.fitsRuntime(5_000));
    flow.queuedSent(5_000);
    assert.equal(flow.sendable(1), 3_000);
    flow.sent(1, 3_000);
    assert.equal(flow.pending, 1_465);
    assert.equal(flow.runtimeWindowUpdate(0, 4_000), 2_000, 'then the client gets what is left');
    assert.equal(flow.clientConnectionWindow + flow.pending, flow.runtimeConnectionWindow);
  });

  it('applies a new initial window to the runtime side at once, and to the client side at its ACK', () => {
    const flow = new RequestFlow();
    flow.own(1);
    flow.runtimeSettings(1000);
    assert.deepEqual(flow.streamWindows(1), { runtime: 1000, client: DEFAULT_WINDOW, creditedAhead: 0 });
    flow.clientAckedSettings();
    assert.deepEqual(flow.streamWindows(1), { runtime: 1000, client: 1000, creditedAhead: 0 });
  });

  it('keeps the runtime stream credit for bytes it credited the client ahead, and passes on the rest', () => {
    const flow = new RequestFlow();
    flow.own(1);
    flow.clientData(1, 3000, 3000);
    assert.equal(flow.creditClientStream(1, 3000, 0), 3000);
    flow.sent(1, 3000);
    assert.equal(flow.runtimeWindowUpdate(1, 2000), 0);
    assert.equal(flow.runtimeWindowUpdate(1, 2000), 1000);
  });
});
