import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import type { Sender, Violation } from '../../src/relay/frame-rules.js';
import { buildFrame, Flag, FrameType, Setting } from '../../src/relay/http2-frames.js';
import { continuation, data, goaway, headers, ping, priority, pushPromise, rstStream, settings, SETTINGS, SETTINGS_ACK, uint32, unknownFrame, windowUpdate, withReservedBit } from '../support/test-frames.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

const { PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR } = Http2ErrorCode;

type Step = readonly [Sender, Buffer];
const client = (frame: Buffer): Step => ['client', frame];
const server = (frame: Buffer): Step => ['server', frame];

/** Both prefaces' SETTINGS, and stream 1 opened by the client: the usual scene. */
const OPENED: readonly Step[] = [client(SETTINGS), server(SETTINGS), client(headers(1))];

interface Row {
  /** The rule, with its section of RFC 9113. */
  readonly name: string;
  readonly sender: Sender;
  readonly frame: Buffer;
  /** The answer the RFC asks for, or 'passes' for a frame that breaks nothing. */
  readonly expect: { readonly code: number; readonly scope: Violation['scope'] } | 'passes';
  /** Frames judged first, each of which must pass (OPENED when not given). */
  readonly before?: readonly Step[];
}

const connection = (code: number): Row['expect'] => ({ code, scope: 'connection' });
const stream = (code: number): Row['expect'] => ({ code, scope: 'stream' });

const VIOLATIONS: readonly Row[] = [
  { name: '§3.4 the client preface continues with SETTINGS', sender: 'client', before: [], frame: ping(), expect: connection(PROTOCOL_ERROR) },
  { name: '§3.4 the first SETTINGS is not an acknowledgment', sender: 'client', before: [], frame: SETTINGS_ACK, expect: connection(PROTOCOL_ERROR) },
  { name: "§3.4 the server's first frame is SETTINGS", sender: 'server', before: [client(SETTINGS)], frame: ping(), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.1 DATA on stream 0', sender: 'client', frame: data(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 HEADERS on stream 0', sender: 'client', frame: headers(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.3 PRIORITY on stream 0', sender: 'client', frame: priority(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.4 RST_STREAM on stream 0', sender: 'client', frame: rstStream(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.6 PUSH_PROMISE on stream 0', sender: 'server', frame: pushPromise(0, 2), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.10 CONTINUATION on stream 0', sender: 'client', frame: continuation(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5 SETTINGS on a stream', sender: 'client', frame: buildFrame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.7 PING on a stream', sender: 'client', frame: ping(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.8 GOAWAY on a stream', sender: 'client', frame: goaway(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.7 PING of 7 bytes', sender: 'client', frame: ping(0, Buffer.alloc(7)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.7 PING of 9 bytes', sender: 'server', frame: ping(0, Buffer.alloc(9)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.5 SETTINGS not a multiple of 6 bytes', sender: 'client', frame: buildFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.5 SETTINGS acknowledgment with a payload', sender: 'client', frame: buildFrame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 3 bytes', sender: 'client', frame: windowUpdate(0, Buffer.alloc(3)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 5 bytes on a stream (still a connection error)', sender: 'client', frame: windowUpdate(1, Buffer.alloc(5)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.4 RST_STREAM of 3 bytes', sender: 'client', frame: rstStream(1, Buffer.alloc(3)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.3 PRIORITY of 4 bytes on an open stream is a stream error', sender: 'client', frame: priority(1, Buffer.alloc(4)), expect: stream(FRAME_SIZE_ERROR) },
  { name: '§6.3, §6.4 PRIORITY of 4 bytes on an idle stream, which no RST_STREAM may name', sender: 'client', frame: priority(9, Buffer.alloc(4)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2, §6.8 GOAWAY too short for its fields', sender: 'server', frame: goaway(0, Buffer.alloc(7)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2 PADDED DATA without a pad length', sender: 'client', frame: data(1, Flag.PADDED, Buffer.alloc(0)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2 HEADERS with PRIORITY too short for its priority fields', sender: 'client', frame: headers(3, Flag.END_HEADERS | Flag.PRIORITY, Buffer.alloc(4)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2 PUSH_PROMISE too short for its promised stream', sender: 'server', frame: buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(3)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.1 DATA padding as long as the payload', sender: 'client', frame: data(1, Flag.PADDED, Buffer.from([3, 0, 0])), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 HEADERS padding longer than the payload', sender: 'client', frame: headers(3, Flag.END_HEADERS | Flag.PADDED, Buffer.from([200, 1])), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 HEADERS padding that leaves no room for the priority fields', sender: 'client', frame: headers(3, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, Buffer.from([3, 0, 0, 0, 1, 16, 0, 0])), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.6 PUSH_PROMISE padding longer than the payload', sender: 'server', frame: buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([9, 0, 0, 0, 2, 1])), expect: connection(PROTOCOL_ERROR) },
  { name: '§4.3, §6.2 DATA inside a header block', sender: 'client', before: [...OPENED, client(headers(3, 0))], frame: data(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§4.3, §6.2 PING inside a header block', sender: 'client', before: [...OPENED, client(headers(3, 0))], frame: ping(), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 CONTINUATION of another stream inside a header block', sender: 'client', before: [...OPENED, client(headers(3, 0))], frame: continuation(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.10 a frame other than CONTINUATION after CONTINUATION without END_HEADERS', sender: 'client', before: [...OPENED, client(headers(3, 0)), client(continuation(3, 0))], frame: headers(5), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.5 an unknown frame type inside a header block', sender: 'client', before: [...OPENED, client(headers(3, 0))], frame: unknownFrame(), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.6 a frame inside a PUSH_PROMISE header block', sender: 'server', before: [...OPENED, server(pushPromise(1, 2, 0))], frame: data(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.10 CONTINUATION after a block that ended', sender: 'client', frame: continuation(1), expect: connection(PROTOCOL_ERROR) },
  { name: "§6.10 CONTINUATION in the other peer's header block", sender: 'server', before: [...OPENED, client(headers(3, 0))], frame: continuation(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1.1 a client opens an even stream', sender: 'client', frame: headers(2), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 DATA on an idle stream', sender: 'client', frame: data(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 DATA on an idle even stream', sender: 'client', frame: data(4), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.4 RST_STREAM on an idle stream', sender: 'client', frame: rstStream(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 WINDOW_UPDATE on an idle stream', sender: 'client', frame: windowUpdate(5), expect: connection(PROTOCOL_ERROR) },
  { name: '§8.4 PUSH_PROMISE from a client', sender: 'client', frame: pushPromise(1, 2), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_ENABLE_PUSH of 2', sender: 'client', frame: settings([Setting.ENABLE_PUSH, 2]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 a server sets SETTINGS_ENABLE_PUSH to 1', sender: 'server', frame: settings([Setting.ENABLE_PUSH, 1]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', sender: 'client', frame: settings([Setting.INITIAL_WINDOW_SIZE, 0x80000000]), expect: connection(FLOW_CONTROL_ERROR) },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE under 16384', sender: 'client', frame: settings([Setting.MAX_FRAME_SIZE, 16_383]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE over 16777215', sender: 'server', frame: settings([Setting.MAX_FRAME_SIZE, 16_777_216]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 a bad value after good ones in the first SETTINGS', sender: 'client', before: [], frame: settings([Setting.HEADER_TABLE_SIZE, 0], [Setting.MAX_FRAME_SIZE, 1]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 0 on the connection', sender: 'client', frame: windowUpdate(0, uint32(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 0 on a stream is a stream error', sender: 'client', frame: windowUpdate(1, uint32(0)), expect: stream(PROTOCOL_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 0 on a stream, the reserved bit set', sender: 'server', frame: windowUpdate(1, uint32(0x80000000)), expect: stream(PROTOCOL_ERROR) },
  { name: '§5.1.1 a server sends HEADERS on a stream the client never opened', sender: 'server', frame: headers(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 a server sends HEADERS on an even stream it never reserved', sender: 'server', frame: headers(2), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 a server sends DATA on an idle stream', sender: 'server', frame: data(3), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.4 a server resets an idle stream', sender: 'server', frame: rstStream(5), expect: connection(PROTOCOL_ERROR) },
  {
    name: '§6.6 PUSH_PROMISE after the client disabled push and the server acknowledged it',
    sender: 'server',
    before: [client(settings([Setting.ENABLE_PUSH, 0])), server(SETTINGS), server(SETTINGS_ACK), client(headers(1))],
    frame: pushPromise(1, 2),
    expect: connection(PROTOCOL_ERROR),
  },
  { name: '§6.6 PUSH_PROMISE on a stream the client has not opened', sender: 'server', frame: pushPromise(3, 2), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.6 PUSH_PROMISE on an even stream', sender: 'server', before: [...OPENED, server(pushPromise(1, 2))], frame: pushPromise(2, 4), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.6 PUSH_PROMISE reserving an odd stream', sender: 'server', frame: pushPromise(1, 3), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1.1, §6.6 PUSH_PROMISE reserving a stream no higher than one reserved before', sender: 'server', before: [...OPENED, server(pushPromise(1, 4))], frame: pushPromise(1, 2), expect: connection(PROTOCOL_ERROR) },
];

const PASSES: readonly Row[] = [
  { name: '§4.1, §5.5 a frame of unknown type is ignored', sender: 'client', frame: unknownFrame(), expect: 'passes' },
  { name: '§4.1, §5.5 a frame of unknown type on an idle stream is ignored', sender: 'server', frame: unknownFrame(7), expect: 'passes' },
  { name: '§6.5.2 an unknown setting is ignored', sender: 'client', frame: settings([0x99, 7], [0x4242, 0xffffffff]), expect: 'passes' },
  { name: '§4.1 unknown flags are ignored', sender: 'client', frame: ping(0, Buffer.alloc(8), 0xfe), expect: 'passes' },
  { name: '§4.1 the reserved bit of the stream id is ignored', sender: 'client', frame: withReservedBit(data(1)), expect: 'passes' },
  { name: '§6.10 CONTINUATION of the open header block', sender: 'client', before: [...OPENED, client(headers(3, 0))], frame: continuation(3), expect: 'passes' },
  { name: '§6.10 CONTINUATION of an open PUSH_PROMISE block', sender: 'server', before: [...OPENED, server(pushPromise(1, 2, 0))], frame: continuation(1), expect: 'passes' },
  { name: '§6.2 a header block that ended lets any frame follow', sender: 'client', before: [...OPENED, client(headers(3, 0)), client(continuation(3))], frame: ping(), expect: 'passes' },
  { name: '§5.1.1 a client opens a new odd stream, skipping some', sender: 'client', frame: headers(7), expect: 'passes' },
  { name: '§8.1 trailers on a stream the client opened', sender: 'client', before: [...OPENED, client(headers(3))], frame: headers(1, Flag.END_HEADERS | Flag.END_STREAM), expect: 'passes' },
  { name: '§6.3 PRIORITY on an idle stream', sender: 'client', frame: priority(11), expect: 'passes' },
  { name: '§6.1 DATA whose padding fills all but the pad length', sender: 'client', frame: data(1, Flag.PADDED, Buffer.from([2, 0, 0])), expect: 'passes' },
  { name: '§6.2 HEADERS with padding and priority that fit', sender: 'client', frame: headers(3, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, Buffer.from([1, 0, 0, 0, 1, 16, 0x82, 0])), expect: 'passes' },
  { name: '§6.5 an empty SETTINGS acknowledgment', sender: 'server', frame: SETTINGS_ACK, expect: 'passes' },
  { name: '§6.5.2 settings at their limits', sender: 'client', frame: settings([Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, 0x7fffffff], [Setting.MAX_FRAME_SIZE, 16_777_215]), expect: 'passes' },
  { name: '§6.5.2 the smallest SETTINGS_MAX_FRAME_SIZE', sender: 'server', frame: settings([Setting.MAX_FRAME_SIZE, 16_384], [Setting.ENABLE_PUSH, 0]), expect: 'passes' },
  { name: '§6.8 GOAWAY with debug data', sender: 'server', frame: goaway(0, Buffer.alloc(20)), expect: 'passes' },
  { name: '§6.9 WINDOW_UPDATE on an open stream', sender: 'server', frame: windowUpdate(1), expect: 'passes' },
  { name: '§6.4 RST_STREAM on a stream the client opened', sender: 'server', frame: rstStream(1), expect: 'passes' },
  { name: '§6.6 PUSH_PROMISE on a stream the client opened, reserving a new even stream', sender: 'server', frame: pushPromise(1, 2), expect: 'passes' },
  {
    name: '§6.6 PUSH_PROMISE before the server acknowledged the client disabling push',
    sender: 'server',
    before: [client(settings([Setting.ENABLE_PUSH, 0])), server(SETTINGS), client(headers(1))],
    frame: pushPromise(1, 2),
    expect: 'passes',
  },
  {
    name: '§6.6 PUSH_PROMISE after the client enabled push again and that was acknowledged',
    sender: 'server',
    before: [client(settings([Setting.ENABLE_PUSH, 0])), server(SETTINGS), server(SETTINGS_ACK), client(settings([Setting.ENABLE_PUSH, 1])), server(SETTINGS_ACK), client(headers(1))],
    frame: pushPromise(1, 2),
    expect: 'passes',
  },
  { name: '§5.1 HEADERS on a stream the server reserved', sender: 'server', before: [...OPENED, server(pushPromise(1, 2))], frame: headers(2), expect: 'passes' },
  { name: '§5.1 a client resets a stream the server reserved', sender: 'client', before: [...OPENED, server(pushPromise(1, 2))], frame: rstStream(2), expect: 'passes' },
];

/** What the rules answer to `frame` from `sender` after the row's scene; every scene frame must pass. */
function judgeRow(row: Row): Violation | undefined {
  const rules = new ConnectionFrameRules();
  const judge = (sender: Sender, frame: Buffer): Violation | undefined =>
    (sender === 'client' ? rules.fromClient : rules.fromServer).judge(frame[3], frame[4], frame.readUInt32BE(5) & 0x7fffffff, frame);
  for (const [sender, frame] of row.before ?? OPENED) assert.equal(judge(sender, frame)?.reason, undefined, 'the scene breaks no rule');
  return judge(row.sender, row.frame);
}

describe('frame rules: what RFC 9113 makes an error', () => {
  for (const row of VIOLATIONS) {
    it(`${row.name}: ${row.sender}`, () => {
      const violation = judgeRow(row);
      assert.ok(violation !== undefined, 'is an error');
      assert.deepEqual({ code: violation.code, scope: violation.scope }, row.expect);
      assert.match(violation.reason, /RFC 9113 §/, 'the reason names the section');
    });
  }
});

describe('frame rules: what must pass', () => {
  for (const row of PASSES) {
    it(`${row.name}: ${row.sender}`, () => {
      assert.equal(judgeRow(row)?.reason, undefined);
    });
  }
});

describe('frame rules: what they remember', () => {
  it('a refused frame leaves no trace: the header block it would open is not open', () => {
    const rules = new ConnectionFrameRules();
    const judge = (frame: Buffer): Violation | undefined => rules.fromClient.judge(frame[3], frame[4], frame.readUInt32BE(5) & 0x7fffffff, frame);
    assert.equal(judge(SETTINGS), undefined);
    assert.equal(judge(headers(2, 0))?.code, PROTOCOL_ERROR);
    assert.equal(judge(ping()), undefined, 'no header block is open');
  });

  it('a stream error changes nothing: the stream stays open', () => {
    const rules = new ConnectionFrameRules();
    const judge = (frame: Buffer): Violation | undefined => rules.fromClient.judge(frame[3], frame[4], frame.readUInt32BE(5) & 0x7fffffff, frame);
    for (const frame of [SETTINGS, headers(1)]) assert.equal(judge(frame), undefined);
    assert.equal(judge(windowUpdate(1, uint32(0)))?.scope, 'stream');
    assert.equal(judge(data(1)), undefined);
  });
});
