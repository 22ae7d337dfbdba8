import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CallSpan } from '../../src/cri/call-record.js';
import { CallTracker } from '../../src/relay/call-tracker.js';
import { FrameVerdict } from '../../src/relay/frame-pump.js';
import { HeaderBlockReader, type HeaderBlock } from '../../src/relay/header-blocks.js';
import { HpackDecoder, Representation } from '../../src/relay/hpack/decoder.js';
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, Flag, FrameType, buildFrame } from '../../src/relay/http2-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import { RequestReparenting, TRACEPARENT, type RequestBlockFate, type RequestBlockSink } from '../../src/relay/request-reparenting.js';
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
  readonly clientBlocks = new HeaderBlockReader((reason) => this.unreadable.push(reason), TRACEPARENT);
  readonly calls: CallTracker;
  readonly reparenting: RequestReparenting;

  constructor(readonly spans = new FixedSpans()) {
    const context = { table: criTable, observer: { onCall: () => undefined }, keepMessagesUpTo: 64 * KIB, maxKeptBytesPerConnection: 1024 * KIB, log: createLogger('silent'), gate: OPEN_GATE };
    this.calls = new CallTracker(context, new KeepBudget(context.maxKeptBytesPerConnection), () => undefined);
    this.reparenting = new RequestReparenting(spans, this.runtime, this.clientBlocks.decoder);
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
        this.reparenting.reparent(block, call);
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

const indexedTraceparent = (value = CLIENT_TRACEPARENT): Buffer => literalField(Literal.WITH_INDEXING, 'traceparent', value);

/** The block with its traceparent literal's value swapped, every other octet as it was. */
function withValue(block: Buffer, from: string, to: string): Buffer {
  const at = block.indexOf(Buffer.from(from, 'latin1'));
  assert.ok(at > 0 && from.length === to.length && from.length < 127);
  return Buffer.concat([block.subarray(0, at), Buffer.from(to, 'latin1'), block.subarray(at + from.length)]);
}

describe('RequestReparenting', () => {
  it('lets a block without a traceparent go on as it came, and splices nothing', () => {
    const direction = new RequestDirection();
    const frame = headers(1, requestBlock());
    assert.equal(direction.send(frame), FrameVerdict.Forward);
    assert.deepEqual(direction.runtime.injections, []);
    assert.equal(direction.reparenting.spliced, false);
    assert.deepEqual(direction.spans.asked, []);
    assert.equal(direction.calls.get(1)?.span, undefined);
  });

  it('holds the frames of a block without a traceparent until it ends, then lets them go on unchanged', () => {
    const direction = new RequestDirection();
    const frames = splitBlock(1, requestBlock(), [4, 6]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop, FrameVerdict.Drop]);
    assert.deepEqual(direction.runtime.received, frames, 'the same frames, byte for byte, in order');
    assert.equal(direction.reparenting.spliced, false);
  });

  it("sends the block as the client encoded it, with criscope's traceparent in the place of the client's", () => {
    const direction = new RequestDirection();
    const block = requestBlock(traceparent(), tracestate);
    assert.equal(direction.send(headers(1, block)), FrameVerdict.Drop);
    assert.deepEqual(direction.spans.asked, [[CLIENT_TRACEPARENT, 'vendor=opaque']]);
    assert.equal(direction.calls.get(1)?.span?.traceparent, CRISCOPE_TRACEPARENT);

    assert.equal(direction.runtime.injections.length, 1);
    const [replacement] = parseFrames(direction.runtime.injections[0]);
    assert.equal(replacement.type, FrameType.HEADERS);
    assert.equal(replacement.flags, Flag.END_HEADERS);
    assert.equal(replacement.streamId, 1);
    assert.deepEqual(replacement.payload, withValue(block, CLIENT_TRACEPARENT, CRISCOPE_TRACEPARENT), 'every other octet as the client sent it');
    const runtimeDecoder = new HpackDecoder();
    assert.deepEqual(runtimeDecoder.decode(replacement.payload), [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT, 'tracestate', 'vendor=opaque']);
    assert.deepEqual(runtimeDecoder.tableEntries(), direction.clientBlocks.decoder.tableEntries(), "the runtime's table is the client's");
    assert.equal(direction.reparenting.spliced, false, 'a literal without indexing leaves no value of criscope in the table');
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

  it("indexes criscope's value where the client indexed its own, and sends the client's where the client later refers to it", () => {
    const direction = new RequestDirection();
    // 62 traceparent, 63 content-type, 64 :path in the client's table after this block.
    assert.equal(direction.send(headers(1, requestBlock(indexedTraceparent()))), FrameVerdict.Drop);
    assert.equal(direction.reparenting.spliced, true);
    assert.deepEqual(direction.runtime.injections.map(payloadOf), [withValue(requestBlock(indexedTraceparent()), CLIENT_TRACEPARENT, CRISCOPE_TRACEPARENT)]);
    // A block referring only to entries both tables hold alike goes on as it came.
    const plain = Buffer.concat([indexedField(3), indexedField(6), indexedField(64), indexedField(63), literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers')]);
    assert.equal(direction.send(headers(3, plain)), FrameVerdict.Forward);
    // A new call naming the client's traceparent by index: re-parented, as a literal that changes no table.
    assert.equal(direction.send(headers(5, Buffer.concat([plain, indexedField(62)]))), FrameVerdict.Drop);
    // Request trailers naming it (no call, nothing to re-parent): the runtime must read the client's value, not criscope's.
    assert.equal(direction.send(headers(5, indexedField(62), Flag.END_HEADERS | Flag.END_STREAM)), FrameVerdict.Drop);
    assert.deepEqual(direction.spans.asked.length, 2, 'only the calls asked for a span');
    assert.deepEqual(
      direction.blocksAtRuntime().map(({ streamId, endStream, fields }) => ({ streamId, endStream, fields })),
      [
        { streamId: 1, endStream: false, fields: [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT] },
        { streamId: 3, endStream: false, fields: REQUEST_FIELDS },
        { streamId: 5, endStream: false, fields: [...REQUEST_FIELDS, 'traceparent', CRISCOPE_TRACEPARENT] },
        { streamId: 5, endStream: true, fields: ['traceparent', CLIENT_TRACEPARENT] },
      ],
    );
  });

  it('forgets a shadowed value once the client evicts its entry', () => {
    const direction = new RequestDirection();
    direction.send(headers(1, requestBlock(indexedTraceparent())));
    assert.equal(direction.reparenting.spliced, true);
    const filler = Buffer.concat(Array.from({ length: 40 }, (_, index) => literalField(Literal.WITH_INDEXING, `x-fill-${index}`, 'v'.repeat(80))));
    assert.equal(direction.send(headers(3, filler)), FrameVerdict.Forward);
    assert.equal(direction.reparenting.spliced, false, 'the runtime evicted criscope\'s value as the client evicted its own');
    assert.equal(direction.blocksAtRuntime().length, 2);
  });

  it("leaves an indexed traceparent of another length as the client sent it: criscope's would change the runtime's table size", () => {
    const direction = new RequestDirection();
    const longer = `${CLIENT_TRACEPARENT}-x`;
    assert.equal(direction.send(headers(1, requestBlock(indexedTraceparent(longer)))), FrameVerdict.Forward);
    assert.equal(direction.reparenting.spliced, false);
    assert.deepEqual(direction.blocksAtRuntime()[0].fields, [...REQUEST_FIELDS, 'traceparent', longer]);
  });

  it('keeps a traceparent sent never indexed never indexed, and every other field as it came', () => {
    const direction = new RequestDirection();
    const secret = literalField(Literal.NEVER_INDEXED, 'x-secret', 's3cr3t');
    const authorization = literalFieldIndexedName(Literal.NEVER_INDEXED, 23, 'Bearer abc');
    const block = requestBlock(secret, literalField(Literal.NEVER_INDEXED, 'traceparent', CLIENT_TRACEPARENT), authorization);
    direction.send(headers(1, block));
    const [spliced] = direction.runtime.injections.map(payloadOf);
    assert.deepEqual(spliced, withValue(block, CLIENT_TRACEPARENT, CRISCOPE_TRACEPARENT));
    const runtimeDecoder = new HpackDecoder(4096, 'traceparent');
    assert.deepEqual(runtimeDecoder.decode(spliced), [...REQUEST_FIELDS, 'x-secret', 's3cr3t', 'traceparent', CRISCOPE_TRACEPARENT, 'authorization', 'Bearer abc']);
    assert.equal(runtimeDecoder.watchedFields[0].representation, Representation.NeverIndexed);
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

  it("cuts the connection for an unreadable block only while the runtime's table holds a value of criscope's", () => {
    const unshadowed = new RequestDirection();
    unshadowed.send(headers(1, requestBlock(traceparent())));
    const next = headers(3, requestBlock());
    assert.equal(unshadowed.reparenting.frameFate(next[4], next, false), FrameVerdict.Forward);

    const shadowed = new RequestDirection();
    shadowed.send(headers(1, requestBlock(indexedTraceparent())));
    assert.equal(shadowed.reparenting.frameFate(next[4], next, false), 'cut');
  });

  it('lets the held frames go on as they came when no replacement could be made', () => {
    const direction = new RequestDirection();
    direction.spans.failure = 'the span store is full';
    const frames = splitBlock(1, requestBlock(indexedTraceparent()), [9]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop]);
    assert.deepEqual(direction.runtime.received, frames, 'unchanged and in order');
    assert.equal(direction.reparenting.spliced, false);
    const single = headers(3, requestBlock(traceparent()));
    assert.equal(direction.send(single), FrameVerdict.Forward, 'a block in one frame goes on as it came');

    // The runtime's table still follows the client's: the next block can be spliced.
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

  it("cuts the connection when no replacement could be made for a block naming an entry the runtime holds criscope's value for", () => {
    const direction = new RequestDirection();
    direction.send(headers(1, requestBlock(indexedTraceparent())));
    direction.spans.failure = 'the span store is full';
    const plain = Buffer.concat([indexedField(3), indexedField(6), indexedField(64), indexedField(63)]);
    const frames = splitBlock(3, Buffer.concat([plain, indexedField(62)]), [2]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, 'cut']);
    assert.equal(direction.runtime.received.length, 1, 'nothing of the second block went on');
  });

  it('lets the held frames go on as they came when the replacement could not be encoded', () => {
    // A span whose traceparent is not latin1 cannot be encoded (writeLiteral throws a RangeError).
    const direction = new RequestDirection(new FixedSpans('00-\u0100'));
    const frames = splitBlock(1, requestBlock(traceparent()), [9]);
    assert.deepEqual(direction.sendAll(frames), [FrameVerdict.Drop, FrameVerdict.Drop]);
    assert.deepEqual(direction.runtime.received, frames);
    assert.equal(direction.reparenting.spliced, false);
  });
});
