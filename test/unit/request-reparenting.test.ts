import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CallSpan } from '../../src/cri/call-record.js';
import { CallTracker } from '../../src/relay/call-tracker.js';
import { FrameVerdict } from '../../src/relay/frame-pump.js';
import { HeaderBlockReader, type HeaderBlock } from '../../src/relay/header-blocks.js';
import { HpackDecoder } from '../../src/relay/hpack/decoder.js';
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, Flag, FrameType, buildFrame } from '../../src/relay/http2-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import { RequestReparenting, type RequestBlockFate, type RequestBlockSink } from '../../src/relay/request-reparenting.js';
import { createLogger } from '../../src/telemetry/logger.js';
import type { TraceContinuation } from '../../src/telemetry/trace-continuation.js';
import { criTable } from '../support/cri-client.js';
import { Literal, indexedField, literalField, literalFieldIndexedName } from '../support/hpack-bytes.js';
import { parseFrames } from '../support/raw-socket.js';
import { splitBlock } from '../support/test-frames.js';
import { OPEN_GATE } from '../../src/relay/request-gate.js';

const PATH = '/runtime.v1.RuntimeService/Version';
const CLIENT_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const CRISCOPE_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01';
const KIB = 1024;

/** A tracing pipeline that gives every call the same span, or fails when told to. */
class FixedSpans implements TraceContinuation {
  readonly asked: [string, string | undefined][] = [];
  failure: string | undefined;
  constructor(private readonly traceparent = CRISCOPE_TRACEPARENT) {}
  continueTrace(traceparent: string, tracestate: string | undefined): CallSpan {
    this.asked.push([traceparent, tracestate]);
    if (this.failure !== undefined) throw new Error(this.failure);
    return { traceparent: this.traceparent, end: () => undefined };
  }
}

/** The runtime's side of the connection: what criscope injects into it, and every frame it receives. */
class RuntimeSide implements RequestBlockSink {
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  readonly injections: Buffer[] = [];
  readonly received: Buffer[] = [];
  inject(frames: Buffer): void {
    this.injections.push(Buffer.from(frames));
    for (const frame of parseFrames(frames)) this.received.push(Buffer.from(frame.bytes));
  }
}

/** The request direction of a traced connection, taken through the steps connection-relay takes for each request block frame. */
class RequestDirection {
  readonly runtime = new RuntimeSide();
  readonly unreadable: string[] = [];
  readonly clientBlocks = new HeaderBlockReader((reason) => this.unreadable.push(reason));
  readonly calls: CallTracker;
  readonly reparenting: RequestReparenting;

  constructor(readonly spans = new FixedSpans()) {
    const context = { table: criTable, observer: { onCall: () => undefined }, keepMessagesUpTo: 64 * KIB, maxKeptBytesPerConnection: 1024 * KIB, log: createLogger('silent'), gate: OPEN_GATE };
    this.calls = new CallTracker(context, new KeepBudget(context.maxKeptBytesPerConnection), () => undefined);
    this.reparenting = new RequestReparenting(spans, this.runtime);
  }

  /** A client frame (HEADERS or CONTINUATION): read, re-parented when it ends a block, then let through or not. */
  send(frame: Buffer): RequestBlockFate {
    const type = frame[3];
    const flags = frame[4];
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    const block = type === FrameType.CONTINUATION ? this.clientBlocks.continue(flags, frame) : this.clientBlocks.start(streamId, flags, frame, type);
    if (block !== undefined) {
      const call = this.calls.requestHeaders(block.streamId, block.fields);
      try {
        this.reparenting.reparent(block, call, this.clientBlocks.decoder.neverIndexedFields);
      } catch {
        this.reparenting.keepOriginal();
      }
    }
    const fate = this.reparenting.frameFate(flags, frame, this.unreadable.length === 0);
    if (fate === FrameVerdict.Forward) this.runtime.received.push(Buffer.from(frame));
    return fate;
  }

  sendAll(frames: readonly Buffer[]): RequestBlockFate[] {
    return frames.map((frame) => this.send(frame));
  }

  /** The header blocks as the runtime reads them, with an HPACK table of its own that only what it received built. */
  blocksAtRuntime(): HeaderBlock[] {
    const problems: string[] = [];
    const reader = new HeaderBlockReader((reason) => problems.push(reason));
    const blocks: HeaderBlock[] = [];
    for (const frame of this.runtime.received) {
      const type = frame[3];
      const block = type === FrameType.CONTINUATION ? reader.continue(frame[4], frame) : reader.start(frame.readUInt32BE(5), frame[4], frame, type);
      if (block !== undefined) blocks.push(block);
    }
    assert.deepEqual(problems, [], 'the runtime reads every block');
    return blocks;
  }
}

/** A gRPC request's fields, two of them kept in the client's table, and what they decode to. */
function requestBlock(...extra: Buffer[]): Buffer {
  return Buffer.concat([
    indexedField(3),
    indexedField(6),
    literalField(Literal.WITH_INDEXING, ':path', PATH),
    literalField(Literal.WITH_INDEXING, 'content-type', 'application/grpc'),
    literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers'),
    ...extra,
  ]);
}
const REQUEST_FIELDS = [':method', 'POST', ':scheme', 'http', ':path', PATH, 'content-type', 'application/grpc', 'te', 'trailers'];
const traceparent = (value = CLIENT_TRACEPARENT): Buffer => literalField(Literal.WITHOUT_INDEXING, 'traceparent', value);
const tracestate = literalField(Literal.WITHOUT_INDEXING, 'tracestate', 'vendor=opaque');

const headers = (streamId: number, block: Buffer, flags: number = Flag.END_HEADERS): Buffer => buildFrame(FrameType.HEADERS, flags, streamId, block);


/** The header block fragment of a frame without padding or priority (all criscope writes). */
const payloadOf = (frame: Buffer): Buffer => frame.subarray(FRAME_HEADER_LENGTH);

describe('RequestReparenting', () => {
  it('lets a block without a traceparent go on as it came, and re-encodes nothing', () => {
    const direction = new RequestDirection();
    const frame = headers(1, requestBlock());
    assert.equal(direction.send(frame), FrameVerdict.Forward);
    assert.deepEqual(direction.runtime.injections, []);
    assert.equal(direction.reparenting.reencodes, false);
    assert.deepEqual(direction.spans.asked, []);
    assert.equal(direction.calls.get(1)?.span, undefined);
  });

  it('holds the frames of a block without a traceparent until it ends, then lets them go on unchanged', () => {
    const direction = new RequestDirection();
    const frames = splitBlock(1, requestBlock(), [4, 6]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop, FrameVerdict.Drop]);
    assert.deepEqual(direction.runtime.received, frames, 'the same frames, byte for byte, in order');
    assert.equal(direction.reparenting.reencodes, false);
  });

  it('replaces a block with a traceparent by one whose fields differ only in traceparent, clearing the table first', () => {
    const direction = new RequestDirection();
    assert.equal(direction.send(headers(1, requestBlock(traceparent(), tracestate))), FrameVerdict.Drop);
    assert.deepEqual(direction.spans.asked, [[CLIENT_TRACEPARENT, 'vendor=opaque']]);
    assert.equal(direction.calls.get(1)?.span?.traceparent, CRISCOPE_TRACEPARENT);
    assert.equal(direction.reparenting.reencodes, true);

    assert.equal(direction.runtime.injections.length, 1);
    const [replacement] = parseFrames(direction.runtime.injections[0]);
    assert.equal(replacement.type, FrameType.HEADERS);
    assert.equal(replacement.flags, Flag.END_HEADERS);
    assert.equal(replacement.streamId, 1);
    assert.equal(replacement.payload[0], 0x20, 'a dynamic table size update to 0 comes first');
    const runtimeDecoder = new HpackDecoder();
    assert.deepEqual(runtimeDecoder.decode(replacement.payload), [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT, 'tracestate', 'vendor=opaque']);
    assert.equal(runtimeDecoder.maxTableSize, 0);
    assert.equal(runtimeDecoder.tableLength, 0, 'nothing indexed at the runtime');
  });

  it('keeps END_STREAM on the replacement of a block that ends its stream', () => {
    const direction = new RequestDirection();
    direction.send(headers(1, requestBlock(traceparent()), Flag.END_HEADERS | Flag.END_STREAM));
    assert.deepEqual(parseFrames(direction.runtime.injections[0]).map((frame) => frame.flags), [Flag.END_HEADERS | Flag.END_STREAM]);
  });

  it('replaces every copy of traceparent', () => {
    const direction = new RequestDirection();
    direction.send(headers(1, requestBlock(traceparent(), tracestate, traceparent('00-second-copy'))));
    assert.deepEqual(direction.spans.asked, [[CLIENT_TRACEPARENT, 'vendor=opaque']], 'the first copy names the parent');
    const [block] = direction.blocksAtRuntime();
    assert.deepEqual(block.fields, [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT, 'tracestate', 'vendor=opaque', 'traceparent', CRISCOPE_TRACEPARENT]);
  });

  it('re-encodes every block after the first re-encoded one, so the runtime reads what the client sent', () => {
    const direction = new RequestDirection();
    // Before: the runtime's table follows the client's, so this block passes as it came.
    assert.equal(direction.send(headers(1, requestBlock())), FrameVerdict.Forward);
    assert.equal(direction.send(headers(3, requestBlock(traceparent()))), FrameVerdict.Drop);
    // After: the client refers to its table (62 content-type, 63 :path), which the runtime's no longer mirrors.
    const byReference = Buffer.concat([indexedField(3), indexedField(6), indexedField(63), indexedField(62), literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers')]);
    assert.equal(direction.send(headers(5, byReference)), FrameVerdict.Drop);
    // Request trailers (no new call, so nothing to re-parent) are re-encoded too.
    assert.equal(direction.send(headers(5, literalField(Literal.WITH_INDEXING, 'x-trailer', 'done'), Flag.END_HEADERS | Flag.END_STREAM)), FrameVerdict.Drop);
    assert.equal(direction.send(headers(7, indexedField(62))), FrameVerdict.Drop, 'even a block of one indexed field');

    assert.equal(direction.runtime.injections.length, 4);
    for (const injection of direction.runtime.injections) assert.equal(payloadOf(injection)[0], 0x20, 'each replacement clears the table first');
    assert.deepEqual(direction.spans.asked.length, 1, 'only the block with a traceparent asked for a span');
    assert.deepEqual(
      direction.blocksAtRuntime().map(({ streamId, endStream, fields }) => ({ streamId, endStream, fields })),
      [
        { streamId: 1, endStream: false, fields: REQUEST_FIELDS },
        { streamId: 3, endStream: false, fields: [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT] },
        { streamId: 5, endStream: false, fields: REQUEST_FIELDS },
        { streamId: 5, endStream: true, fields: ['x-trailer', 'done'] },
        { streamId: 7, endStream: false, fields: ['x-trailer', 'done'] },
      ],
    );
  });

  it('keeps a never-indexed field never indexed, whether its name was new or from the table', () => {
    const direction = new RequestDirection();
    const secret = literalField(Literal.NEVER_INDEXED, 'x-secret', 's3cr3t');
    const authorization = literalFieldIndexedName(Literal.NEVER_INDEXED, 23, 'Bearer abc');
    direction.send(headers(1, requestBlock(secret, traceparent(), authorization)));
    direction.send(headers(3, requestBlock(authorization)));
    const runtimeDecoder = new HpackDecoder();
    const [first, second] = direction.runtime.injections.map(payloadOf);

    assert.deepEqual(runtimeDecoder.decode(first), [...REQUEST_FIELDS, 'x-secret', 's3cr3t', 'traceparent', CRISCOPE_TRACEPARENT, 'authorization', 'Bearer abc']);
    assert.deepEqual(runtimeDecoder.neverIndexedFields, [10, 14]);
    assert.ok(first.includes(Buffer.from('\x10\x08x-secret', 'latin1')), 'x-secret as a never-indexed literal');
    assert.ok(first.includes(Buffer.from('\x10\x0dauthorization', 'latin1')), 'authorization as a never-indexed literal');
    assert.ok(first.includes(Buffer.from('\x00\x0btraceparent', 'latin1')), 'traceparent without indexing');

    assert.deepEqual(runtimeDecoder.decode(second), [...REQUEST_FIELDS, 'authorization', 'Bearer abc']);
    assert.deepEqual(runtimeDecoder.neverIndexedFields, [10], 'in a later re-encoded block too');
  });

  it('holds a block split over CONTINUATIONs until END_HEADERS, then replaces it whole', () => {
    const direction = new RequestDirection();
    const block = requestBlock(traceparent(), tracestate);
    const frames = splitBlock(1, block, [7, 30]);
    const injectedAfterEach = frames.map((frame) => {
      assert.equal(direction.send(frame), FrameVerdict.Drop);
      return direction.runtime.injections.length;
    });
    assert.deepEqual(injectedAfterEach, [0, 0, 1], 'nothing goes on before the block ends');
    const replacement = parseFrames(direction.runtime.injections[0]);
    assert.deepEqual(replacement.map((frame) => [frame.type, frame.flags]), [[FrameType.HEADERS, Flag.END_HEADERS]], 'one frame, as the block fits');
    assert.deepEqual(new HpackDecoder().decode(replacement[0].payload), [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT, 'tracestate', 'vendor=opaque']);
  });

  it("splits a replacement larger than the runtime's SETTINGS_MAX_FRAME_SIZE into HEADERS and CONTINUATIONs", () => {
    const direction = new RequestDirection();
    direction.runtime.maxFrameSize = 1024;
    const large = 'x'.repeat(2500);
    // The client may send larger frames than the runtime accepts: the bound is the runtime's.
    direction.send(headers(9, requestBlock(traceparent(), literalField(Literal.WITHOUT_INDEXING, 'x-large', large)), Flag.END_HEADERS | Flag.END_STREAM));
    assert.equal(direction.runtime.injections.length, 1, 'one injection: the frames of a block go out back to back');
    const frames = parseFrames(direction.runtime.injections[0]);
    assert.deepEqual(
      frames.map((frame) => [frame.type, frame.flags, frame.streamId]),
      [
        [FrameType.HEADERS, Flag.END_STREAM, 9],
        [FrameType.CONTINUATION, 0, 9],
        [FrameType.CONTINUATION, Flag.END_HEADERS, 9],
      ],
    );
    for (const frame of frames) assert.ok(frame.payload.length <= 1024, `a ${frame.payload.length}-byte frame`);
    const [block] = direction.blocksAtRuntime();
    assert.deepEqual(block.fields, [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT, 'x-large', large]);
    assert.equal(block.endStream, true);
  });

  it('cuts the connection when the blocks become unreadable halfway through a held block', () => {
    const direction = new RequestDirection();
    const [first, rest] = splitBlock(1, requestBlock(traceparent()), [5]);
    assert.equal(direction.send(first), FrameVerdict.Drop);
    assert.equal(direction.reparenting.frameFate(rest[4], rest, false), 'cut');
    assert.deepEqual(direction.runtime.received, [], 'no part of the block went on');
  });

  it('lets the frames of a block go on when the blocks were unreadable before it began', () => {
    const direction = new RequestDirection();
    const [first, rest] = splitBlock(1, requestBlock(), [5]);
    assert.equal(direction.reparenting.frameFate(first[4], first, false), FrameVerdict.Forward);
    assert.equal(direction.reparenting.frameFate(rest[4], rest, false), FrameVerdict.Forward);
  });

  it(
    'cuts the connection for an unreadable block once blocks are re-encoded, however it began',
    () => {
      const direction = new RequestDirection();
      direction.send(headers(1, requestBlock(traceparent())));
      assert.equal(direction.reparenting.reencodes, true);
      const next = headers(3, requestBlock());
      assert.equal(direction.reparenting.frameFate(next[4], next, false), 'cut');
    },
  );

  it('lets the held frames go on as they came when no replacement could be made before re-encoding began', () => {
    const direction = new RequestDirection();
    direction.spans.failure = 'the span store is full';
    const frames = splitBlock(1, requestBlock(traceparent()), [9]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop]);
    assert.deepEqual(direction.runtime.received, frames, 'unchanged and in order');
    assert.equal(direction.reparenting.reencodes, false);
    const single = headers(3, requestBlock(traceparent()));
    assert.equal(direction.send(single), FrameVerdict.Forward, 'a block in one frame goes on as it came');

    // The runtime's table still follows the client's: the next block can start re-encoding.
    direction.spans.failure = undefined;
    assert.equal(direction.send(headers(5, requestBlock(traceparent()))), FrameVerdict.Drop);
    assert.deepEqual(
      direction.blocksAtRuntime().map((block) => block.fields),
      [
        [...REQUEST_FIELDS, 'traceparent', CLIENT_TRACEPARENT],
        [...REQUEST_FIELDS, 'traceparent', CLIENT_TRACEPARENT],
        [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT],
      ],
    );
  });

  it('cuts the connection when no replacement could be made after re-encoding began', () => {
    const direction = new RequestDirection();
    direction.send(headers(1, requestBlock(traceparent())));
    direction.spans.failure = 'the span store is full';
    const frames = splitBlock(3, requestBlock(traceparent()), [9]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, 'cut']);
    assert.equal(direction.runtime.received.length, 1, 'nothing of the second block went on');
  });

  it(
    'lets the held frames go on as they came when the first replacement could not be made',
    () => {
      // A span whose traceparent is not latin1 cannot be encoded (encodeHeaderList throws a RangeError).
      const direction = new RequestDirection(new FixedSpans('00-\u0100'));
      const frames = splitBlock(1, requestBlock(traceparent()), [9]);
      assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop]);
      assert.deepEqual(direction.runtime.received, frames);
      assert.equal(direction.reparenting.reencodes, false);
    },
  );
});
