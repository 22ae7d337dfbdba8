import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { CallTracker } from '../../src/relay/call-tracker.js';
import { ClientAnswers } from '../../src/relay/client-answers.js';
import { ConnectionEnding } from '../../src/relay/connection-ending.js';
import { FramePump, FrameVerdict } from '../../src/relay/frame-pump.js';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import { HeaderBlockReader } from '../../src/relay/header-blocks.js';
import { Flag, FrameType, buildFrame } from '../../src/relay/http2-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import { OPEN_GATE } from '../../src/relay/request-gate.js';
import { StreamLimits } from '../../src/relay/stream-limits.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { GrpcStatus, Http2ErrorCode } from '../../src/wire-codes.js';
import { criTable } from '../support/cri-client.js';
import { parseFrames, type RawFrame } from '../support/raw-socket.js';
import { SETTINGS } from '../support/test-frames.js';

const VERSION = '/runtime.v1.RuntimeService/Version';

/** Both ends of a real unix-socket connection: criscope's end of a client connection, and the client's. */
async function socketPair(): Promise<{ criscopeEnd: Socket; clientEnd: Socket; received: () => RawFrame[] }> {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-ending-')), 'sock');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const clientEnd = connect(path);
  const [criscopeEnd] = (await once(server, 'connection')) as [Socket];
  server.close();
  const bytes: Buffer[] = [];
  clientEnd.on('data', (chunk: Buffer) => bytes.push(chunk));
  clientEnd.on('error', () => undefined);
  criscopeEnd.on('error', () => undefined);
  return { criscopeEnd, clientEnd, received: () => parseFrames(Buffer.concat(bytes)) };
}

/** A connection's ending, with the parts it answers through writing to `criscopeEnd`. */
function endingOf(criscopeEnd: Socket) {
  const tracking = { table: criTable, observer: { onCall: () => undefined }, keepMessagesUpTo: 65_536, maxKeptBytesPerConnection: 1 << 20, log: createLogger('silent'), gate: OPEN_GATE };
  const calls = new CallTracker(tracking, new KeepBudget(tracking.maxKeptBytesPerConnection), () => undefined);
  const rules = new ConnectionFrameRules();
  const toClient = new FramePump(
    criscopeEnd,
    {
      onFrame: () => {
        answers.runtimeSpeaks();
        return FrameVerdict.Forward;
      },
      onUnreadable: () => undefined,
      onViolation: () => undefined,
      onOversized: () => undefined,
    },
    rules.fromServer,
  );
  const answers = new ClientAnswers(toClient, calls, new HeaderBlockReader(() => undefined));
  const limits = new StreamLimits();
  const ending = new ConnectionEnding(criscopeEnd, { toClient, answers, calls, limits }, createLogger('silent'));
  /** The client opens a call on `streamId`, as the client-frames handler would record it. */
  const clientCalls = (streamId: number): void => {
    rules.fromClient.judge(FrameType.SETTINGS, 0, 0, SETTINGS);
    rules.fromClient.judge(FrameType.HEADERS, Flag.END_HEADERS, streamId, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, Buffer.from([0x83])));
    limits.clientOpened(streamId);
    calls.requestHeaders(streamId, [':path', VERSION]);
  };
  return { ending, toClient, calls, clientCalls };
}

const closed = (socket: Socket): Promise<unknown> => (socket.closed ? Promise.resolve() : once(socket, 'close'));

describe('ConnectionEnding', () => {
  afterEach(() => mock.timers.reset());

  it('rejects a client the runtime has not spoken to with SETTINGS, then a GOAWAY that says why', async () => {
    const { criscopeEnd, clientEnd, received } = await socketPair();
    const { ending } = endingOf(criscopeEnd);
    ending.prefaceRead();
    ending.reject(Http2ErrorCode.PROTOCOL_ERROR, 'criscope: a test reason');
    assert.equal(ending.closed, true);
    await once(clientEnd, 'end');
    const frames = received();
    assert.deepEqual(frames.map((frame) => frame.type), [FrameType.SETTINGS, FrameType.GOAWAY]);
    const goaway = frames[1].payload;
    assert.equal(goaway.readUInt32BE(4), Http2ErrorCode.PROTOCOL_ERROR);
    assert.equal(goaway.subarray(8).toString(), 'criscope: a test reason');
    clientEnd.destroy();
  });

  it('closes with the calls in flight answered UNAVAILABLE, after a SETTINGS of its own when the runtime never spoke', async () => {
    const { criscopeEnd, clientEnd, received } = await socketPair();
    const { ending, clientCalls } = endingOf(criscopeEnd);
    ending.prefaceRead();
    clientCalls(1);
    clientCalls(3);
    ending.close('criscope is shutting down');
    await once(clientEnd, 'end');
    const frames = received();
    assert.equal(frames[0].type, FrameType.SETTINGS);
    const answered = frames.filter((frame) => frame.type === FrameType.HEADERS && (frame.flags & Flag.END_STREAM) !== 0).map((frame) => frame.streamId);
    assert.deepEqual(answered, [1, 3]);
    assert.ok(frames.some((frame) => frame.payload.includes(Buffer.from(String(GrpcStatus.UNAVAILABLE)))), 'grpc-status 14 in the trailers');
    clientEnd.destroy();
  });

  it('writes nothing of its own inside an unfinished header block of the runtime when it closes', async () => {
    const { criscopeEnd, clientEnd, received } = await socketPair();
    const { ending, toClient, clientCalls } = endingOf(criscopeEnd);
    ending.prefaceRead();
    clientCalls(1);
    toClient.push(SETTINGS);
    toClient.push(buildFrame(FrameType.HEADERS, 0, 1, Buffer.from([0x88])));
    ending.close('criscope is shutting down');
    await closed(clientEnd);
    assert.deepEqual(received().map((frame) => frame.type), [FrameType.SETTINGS, FrameType.HEADERS], "only the runtime's frames");
  });

  it("reads a paused client on to its hang-up, so the connection's socket is let go", { timeout: 20_000 }, async () => {
    const { criscopeEnd, clientEnd } = await socketPair();
    // Held timers: the grace never runs out here, so the socket is let go only by the client's hang-up.
    mock.timers.enable({ apis: ['setTimeout'] });
    const { ending } = endingOf(criscopeEnd);
    ending.prefaceRead();
    // Paused with more unread than the socket reads ahead (as when the runtime's side pushes back): the client's hang-up is queued behind it.
    criscopeEnd.pause();
    clientEnd.write(Buffer.alloc(4 << 20));
    ending.reject(Http2ErrorCode.ENHANCE_YOUR_CALM, 'criscope: too much');
    await closed(criscopeEnd);
    assert.equal(criscopeEnd.destroyed, true);
  });

  it('cuts off a client that does not hang up within the grace', async () => {
    const { criscopeEnd, clientEnd } = await socketPair();
    mock.timers.enable({ apis: ['setTimeout'] });
    const { ending } = endingOf(criscopeEnd);
    ending.prefaceRead();
    ending.reject(Http2ErrorCode.PROTOCOL_ERROR, 'criscope: bad frame');
    await once(clientEnd, 'end');
    mock.timers.tick(4_999);
    assert.equal(criscopeEnd.destroyed, false, 'still within the grace');
    mock.timers.tick(1);
    assert.equal(criscopeEnd.destroyed, true);
    clientEnd.destroy();
  });

  it('closes a connection that never sends the preface within 10 s', async () => {
    const { criscopeEnd, clientEnd, received } = await socketPair();
    mock.timers.enable({ apis: ['setTimeout'] });
    const { ending } = endingOf(criscopeEnd);
    mock.timers.tick(10_000);
    assert.equal(ending.closed, true);
    await once(clientEnd, 'end');
    const goaway = received().find((frame) => frame.type === FrameType.GOAWAY);
    assert.ok(goaway);
    assert.match(goaway.payload.subarray(8).toString(), /no HTTP\/2 preface/);
    clientEnd.destroy();
  });
});
