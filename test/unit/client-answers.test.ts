import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CallRecord } from '../../src/cri/call-record.js';
import { CallTracker, type TrackedCall } from '../../src/relay/call-tracker.js';
import { ClientAnswers } from '../../src/relay/client-answers.js';
import { FramePump, FrameVerdict, type FrameSink } from '../../src/relay/frame-pump.js';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import { HeaderBlockReader } from '../../src/relay/header-blocks.js';
import { HpackDecoder } from '../../src/relay/hpack/decoder.js';
import { Flag, FrameType, buildFrame, rstStreamFrame, windowUpdateFrame } from '../../src/relay/http2-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { criTable } from '../support/cri-client.js';
import { Literal, indexedField, literalField } from '../support/hpack-bytes.js';
import { parseFrames, type RawFrame } from '../support/raw-socket.js';
import { SETTINGS } from '../support/test-frames.js';
import { GrpcStatus, Http2ErrorCode } from '../../src/wire-codes.js';
import { OPEN_GATE } from '../../src/relay/request-gate.js';

const VERSION = '/runtime.v1.RuntimeService/Version';
const KIB = 1024;

/** The client's socket: keeps what is written to it. */
class MemorySink implements FrameSink {
  readonly destroyed = false;
  private readonly writes: Buffer[] = [];
  write(bytes: Buffer): boolean {
    this.writes.push(Buffer.from(bytes));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  get frames(): RawFrame[] {
    return parseFrames(Buffer.concat(this.writes));
  }
}

interface ClientSide {
  readonly sink: MemorySink;
  readonly pump: FramePump;
  readonly calls: CallTracker;
  readonly answers: ClientAnswers;
  readonly records: CallRecord[];
  /** What the pump refused or could not read: nothing, in these tests. */
  readonly problems: string[];
  /** The client starts a call on `streamId` (its HEADERS went the other way). */
  readonly clientCalls: (streamId: number) => void;
}

/**
 * The runtime-to-client direction of a connection: a pump whose handler, like
 * connection-relay's, tells the answers the runtime spoke before each frame
 * goes on, and the calls of the connection with the records they end in.
 */
function clientSide(): ClientSide {
  const sink = new MemorySink();
  const records: CallRecord[] = [];
  const context = { table: criTable, observer: { onCall: (record: CallRecord) => records.push(record) }, keepMessagesUpTo: 64 * KIB, maxKeptBytesPerConnection: 1024 * KIB, log: createLogger('silent'), gate: OPEN_GATE };
  const calls = new CallTracker(context, new KeepBudget(context.maxKeptBytesPerConnection), () => undefined);
  const problems: string[] = [];
  const rules = new ConnectionFrameRules();
  // The client's preface SETTINGS, which went the other way.
  assert.equal(rules.fromClient.judge(FrameType.SETTINGS, 0, 0, SETTINGS), undefined);
  const pump = new FramePump(
    sink,
    {
      onFrame: () => {
        answers.runtimeSpeaks();
        return FrameVerdict.Forward;
      },
      onUnreadable: (reason) => problems.push(reason),
      onViolation: (violation) => problems.push(violation.reason),
      onOversized: (length) => problems.push(`oversized ${length}`),
    },
    rules.fromServer,
  );
  // The runtime's header blocks as the relay reads them: an answer waits for one that is open.
  const responseBlocks = new HeaderBlockReader(() => undefined);
  const answers = new ClientAnswers(pump, calls, responseBlocks);
  const clientCalls = (streamId: number): void => {
    const request = buildFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, Buffer.from([0x83]));
    assert.equal(rules.fromClient.judge(FrameType.HEADERS, Flag.END_HEADERS, streamId, request), undefined);
    calls.requestHeaders(streamId, [':path', VERSION]);
  };
  return { sink, pump, calls, answers, records, problems, clientCalls };
}

/** The call the client opened on `streamId`. */
function callOn(calls: CallTracker, streamId: number): TrackedCall {
  const call = calls.get(streamId);
  assert.ok(call, `a call on stream ${streamId}`);
  return call;
}

/** The fields of a header block criscope wrote, decoded by the client's decoder (which must be left as it was). */
function decodedBy(decoder: HpackDecoder, frame: RawFrame): string[] {
  const table = decoder.tableEntries();
  const fields = decoder.decode(frame.payload);
  assert.deepEqual(decoder.tableEntries(), table, "the client's HPACK table is untouched");
  return fields;
}

const recordsHandedOver = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ClientAnswers', () => {
  it("writes what it owes only after the runtime's first frame, in the order it was owed, once", () => {
    const { sink, pump, answers, problems } = clientSide();
    const owed: number[] = [];
    answers.onceRuntimeSpoke(() => {
      owed.push(1);
      pump.inject(rstStreamFrame(1, Http2ErrorCode.CANCEL));
    });
    answers.onceRuntimeSpoke(() => {
      owed.push(3);
      pump.inject(windowUpdateFrame(0, 100));
    });
    assert.equal(answers.runtimeHasSpoken, false);
    assert.equal(sink.frames.length, 0, 'nothing before the server SETTINGS');
    assert.equal(owed.length, 0);

    pump.push(SETTINGS);
    assert.equal(answers.runtimeHasSpoken, true);
    assert.deepEqual(owed, [1, 3]);
    assert.deepEqual(
      sink.frames.map((frame) => [frame.type, frame.streamId]),
      [
        [FrameType.SETTINGS, 0],
        [FrameType.RST_STREAM, 1],
        [FrameType.WINDOW_UPDATE, 0],
      ],
      "the runtime's SETTINGS first",
    );

    pump.push(buildFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    assert.deepEqual(owed, [1, 3], 'what was owed is not written again');
    answers.onceRuntimeSpoke(() => owed.push(5));
    assert.deepEqual(owed, [1, 3, 5], 'once the runtime spoke, at once');
    assert.deepEqual(problems, []);
  });

  it('answers a call whose response has not begun with a whole trailers-only response', () => {
    const { sink, calls, answers, clientCalls } = clientSide();
    answers.runtimeSpeaks();
    clientCalls(1);
    answers.answer(1, callOn(calls, 1), GrpcStatus.UNAVAILABLE, 'the runtime is gone');
    const frames = sink.frames;
    assert.equal(frames.length, 1);
    const [frame] = frames;
    assert.equal(frame.type, FrameType.HEADERS);
    assert.equal(frame.flags, Flag.END_HEADERS | Flag.END_STREAM);
    assert.equal(frame.streamId, 1);
    assert.deepEqual(decodedBy(new HpackDecoder(), frame), [':status', '200', 'content-type', 'application/grpc', 'grpc-status', '14', 'grpc-message', 'the runtime is gone']);
  });

  it("answers a call whose response headers went out with trailers only, leaving the client's table as it was", () => {
    const { sink, pump, calls, answers, problems, clientCalls } = clientSide();
    const clientDecoder = new HpackDecoder();
    // The runtime's response headers, indexed into the client's table.
    const responseHeaders = buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.concat([indexedField(8), literalField(Literal.WITH_INDEXING, 'content-type', 'application/grpc')]));
    clientCalls(1);
    pump.push(Buffer.concat([SETTINGS, responseHeaders]));
    const [, relayed] = sink.frames;
    clientDecoder.decode(relayed.payload);
    calls.responseHeaders(1, [':status', '200', 'content-type', 'application/grpc'], false);

    answers.answer(1, callOn(calls, 1), GrpcStatus.PERMISSION_DENIED, 'denied by policy');
    const answer = sink.frames[2];
    assert.equal(answer.flags, Flag.END_HEADERS | Flag.END_STREAM);
    assert.deepEqual(decodedBy(clientDecoder, answer), ['grpc-status', '7', 'grpc-message', 'denied by policy']);
    assert.deepEqual(problems, []);
  });

  it('percent-encodes the message as gRPC asks', () => {
    const { sink, calls, answers, clientCalls } = clientSide();
    answers.runtimeSpeaks();
    clientCalls(3);
    calls.responseHeaders(3, [':status', '200'], false);
    answers.answer(3, callOn(calls, 3), GrpcStatus.INTERNAL, 'café: 100% broken\n');
    assert.deepEqual(decodedBy(new HpackDecoder(), sink.frames[0]), ['grpc-status', '13', 'grpc-message', 'caf%C3%A9: 100%25 broken%0A']);
  });

  it("writes the answer after the runtime's open header block ends, never inside it", () => {
    const { sink, pump, calls, answers, problems, clientCalls } = clientSide();
    clientCalls(1);
    clientCalls(3);
    pump.push(Buffer.concat([SETTINGS, buildFrame(FrameType.HEADERS, 0, 1, indexedField(8))]));
    answers.answer(3, callOn(calls, 3), GrpcStatus.UNAVAILABLE, 'draining');
    assert.deepEqual(
      sink.frames.map((frame) => frame.type),
      [FrameType.SETTINGS, FrameType.HEADERS],
    );
    pump.push(buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0)));
    assert.deepEqual(
      sink.frames.map((frame) => [frame.type, frame.streamId]),
      [
        [FrameType.SETTINGS, 0],
        [FrameType.HEADERS, 1],
        [FrameType.CONTINUATION, 1],
        [FrameType.HEADERS, 3],
      ],
    );
    assert.deepEqual(problems, []);
  });

  it('ends the call as answered by criscope, with its status and message', async () => {
    const { calls, answers, records, clientCalls } = clientSide();
    answers.runtimeSpeaks();
    clientCalls(1);
    clientCalls(3);
    answers.answer(1, callOn(calls, 1), GrpcStatus.UNAVAILABLE, 'criscope is shutting down');
    assert.equal(calls.get(1), undefined, 'no longer in flight');
    assert.ok(calls.get(3), 'the other call goes on');
    await recordsHandedOver();
    assert.equal(records.length, 1);
    const [record] = records;
    assert.equal(record.answeredByCriscope, true);
    assert.equal(record.code, GrpcStatus.UNAVAILABLE);
    assert.equal(record.grpcMessage, 'criscope is shutting down');
    assert.equal(record.path, VERSION);
  });

  it('remembers the streams it answered until the runtime ends them', () => {
    const { calls, answers, clientCalls } = clientSide();
    answers.runtimeSpeaks();
    clientCalls(1);
    clientCalls(5);
    assert.equal(answers.answeredStream(1), false);
    answers.answer(1, callOn(calls, 1), GrpcStatus.UNAVAILABLE, 'gone');
    answers.answer(5, callOn(calls, 5), GrpcStatus.UNAVAILABLE, 'gone');
    assert.equal(answers.answeredStream(1), true);
    assert.equal(answers.answeredStream(3), false, 'a stream it did not answer');
    assert.equal(answers.answeredStream(5), true);

    assert.equal(answers.streamEnded(1), true, 'the runtime ended a stream criscope had answered');
    assert.equal(answers.answeredStream(1), false, 'and it is forgotten');
    assert.equal(answers.streamEnded(1), false, 'ending it again finds nothing');
    assert.equal(answers.streamEnded(3), false, 'a stream it never answered');
    assert.equal(answers.answeredStream(5), true, 'the other answered stream is still remembered');
  });

  it('remembers a bounded number of answered streams, forgetting the oldest first', () => {
    const { calls, answers, clientCalls } = clientSide();
    answers.runtimeSpeaks();
    // Streams criscope answered and also reset at the runtime (server-streaming calls its drain ended) are never ended by it.
    const streams = Array.from({ length: 3000 }, (_, index) => 2 * index + 1);
    for (const streamId of streams) {
      clientCalls(streamId);
      answers.answer(streamId, callOn(calls, streamId), GrpcStatus.PERMISSION_DENIED, 'denied');
    }
    const remembered = streams.filter((streamId) => answers.answeredStream(streamId));
    assert.ok(remembered.length > 0 && remembered.length < streams.length, `${remembered.length} of ${streams.length} remembered`);
    assert.equal(answers.answeredStream(streams[streams.length - 1]), true, 'the latest is remembered');
    assert.equal(answers.answeredStream(1), false, 'the oldest is forgotten');
  });
});
