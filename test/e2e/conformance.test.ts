import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import { encodeHeaderBlock } from '../../src/relay/hpack/encoder.js';
import { HpackDecoder } from '../../src/relay/hpack/decoder.js';
import { buildFrame, CLIENT_PREFACE, Flag, FrameType, Setting } from '../../src/relay/http2-frames.js';
import { criscopeInFrontOf } from '../support/criscope-fixture.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { parseFrames, RawConnection, type RawFrame } from '../support/raw-socket.js';
import { testRuntime } from '../support/runtime-env.js';
import { continuation, data, goaway, headers, ping, priority, pushPromise, rstStream, settings, SETTINGS, SETTINGS_ACK, splitBlock, uint32, unknownFrame, windowUpdate } from '../support/test-frames.js';
import { scrape, total } from '../support/metrics-scrape.js';
import { policyFile } from '../support/policy-env.js';
import { waitFor } from '../support/wait.js';
import { Literal, literalField } from '../support/hpack-bytes.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

const { PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR } = Http2ErrorCode;
/** How long a peer gets to answer a frame before it counts as letting the frame pass. */
const ANSWER_WAIT_MS = 1500;

const VERSION_REQUEST = encodeHeaderBlock([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/runtime.v1.RuntimeService/Version'],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]);
/** Stream 1 opened with a Version call whose request has not come yet: the runtime waits for it. */
const OPEN_1 = headers(1, Flag.END_HEADERS, VERSION_REQUEST);
/** A whole Version call on `streamId`: headers, and an empty request message. */
const versionCall = (streamId: number): Buffer => Buffer.concat([headers(streamId, Flag.END_HEADERS, VERSION_REQUEST), data(streamId, Flag.END_STREAM, Buffer.alloc(5))]);

interface Expected {
  readonly code: number;
  readonly scope: 'connection' | 'stream';
}

/** What a test client sends: the preface, its SETTINGS, a scene, and the frame under test. */
interface Sending {
  /** The rule, with its section of RFC 9113. */
  readonly name: string;
  /** What the client sends before the frame, after the preface and its SETTINGS. */
  readonly scene?: readonly Buffer[];
  readonly frame: Buffer;
  /** No SETTINGS after the preface: the frame comes first. */
  readonly noSettings?: boolean;
}

interface Case extends Sending {
  /** The RFC's answer; a stream error resets stream 1. */
  readonly expect: Expected;
}

const connection = (code: number): Expected => ({ code, scope: 'connection' });
const stream = (code: number): Expected => ({ code, scope: 'stream' });

const CLIENT_VIOLATIONS: readonly Case[] = [
  { name: '§6.2 HEADERS on stream 0', frame: headers(0, Flag.END_HEADERS | Flag.END_STREAM, VERSION_REQUEST), expect: connection(PROTOCOL_ERROR) },
  { name: '§3.4 a preface not followed by SETTINGS', noSettings: true, frame: ping(), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.1 DATA on stream 0', frame: data(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.3 PRIORITY on stream 0', frame: priority(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.4 RST_STREAM on stream 0', frame: rstStream(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.10 CONTINUATION on stream 0', frame: continuation(0), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5 SETTINGS on stream 1', frame: buildFrame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.7 PING on stream 1', frame: ping(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.8 GOAWAY on stream 1', frame: goaway(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.7 PING of 7 bytes', frame: ping(0, Buffer.alloc(7)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.5 SETTINGS of 5 bytes', frame: buildFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.5 a SETTINGS acknowledgment with a payload', frame: buildFrame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 3 bytes', frame: windowUpdate(0, Buffer.alloc(3)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.4 RST_STREAM of 3 bytes', scene: [OPEN_1], frame: rstStream(1, Buffer.alloc(3)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.3 PRIORITY of 4 bytes on an open stream', scene: [OPEN_1], frame: priority(1, Buffer.alloc(4)), expect: stream(FRAME_SIZE_ERROR) },
  { name: '§6.3, §6.4 PRIORITY of 4 bytes on an idle stream', frame: priority(3, Buffer.alloc(4)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2, §6.8 GOAWAY of 7 bytes', frame: goaway(0, Buffer.alloc(7)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.2 a frame over SETTINGS_MAX_FRAME_SIZE', scene: [OPEN_1], frame: data(1, 0, Buffer.alloc(16_385)), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§6.1 DATA padding past the payload', scene: [OPEN_1], frame: data(1, Flag.PADDED, Buffer.from([50, 1, 2])), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 HEADERS padding past the payload', frame: headers(1, Flag.END_HEADERS | Flag.PADDED, Buffer.concat([Buffer.from([200]), VERSION_REQUEST.subarray(0, 9)])), expect: connection(PROTOCOL_ERROR) },
  { name: '§4.2 HEADERS too short for its priority fields', frame: headers(1, Flag.END_HEADERS | Flag.PRIORITY, Buffer.from([0, 0])), expect: connection(FRAME_SIZE_ERROR) },
  { name: '§4.3, §6.2 DATA inside a header block', scene: [headers(1, 0, VERSION_REQUEST)], frame: data(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.2 CONTINUATION of another stream inside a header block', scene: [headers(1, 0, VERSION_REQUEST)], frame: continuation(3, Flag.END_HEADERS, Buffer.alloc(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.5 a frame of unknown type inside a header block', scene: [headers(1, 0, VERSION_REQUEST)], frame: unknownFrame(), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.10 CONTINUATION without a header block', scene: [OPEN_1], frame: continuation(1, Flag.END_HEADERS, Buffer.alloc(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1.1 HEADERS opening an even stream', frame: headers(2, Flag.END_HEADERS, VERSION_REQUEST), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 DATA on an idle stream', frame: data(1, Flag.END_STREAM, Buffer.alloc(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.4 RST_STREAM on an idle stream', frame: rstStream(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§5.1 WINDOW_UPDATE on an idle stream', frame: windowUpdate(1), expect: connection(PROTOCOL_ERROR) },
  { name: '§8.4 PUSH_PROMISE from a client', scene: [OPEN_1], frame: pushPromise(1, 2), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_ENABLE_PUSH of 2', frame: settings([Setting.ENABLE_PUSH, 2]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', frame: settings([Setting.INITIAL_WINDOW_SIZE, 0x80000000]), expect: connection(FLOW_CONTROL_ERROR) },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE under 16384', frame: settings([Setting.MAX_FRAME_SIZE, 16_383]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE over 16777215', frame: settings([Setting.MAX_FRAME_SIZE, 16_777_216]), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 0 on the connection', frame: windowUpdate(0, uint32(0)), expect: connection(PROTOCOL_ERROR) },
  { name: '§6.9 WINDOW_UPDATE of 0 on an open stream', scene: [OPEN_1], frame: windowUpdate(1, uint32(0)), expect: stream(PROTOCOL_ERROR) },
  {
    // Sent at once, so it most often comes before the runtime has spoken: criscope's GOAWAY must then follow SETTINGS of its own (§3.4).
    name: '§6.9.1 DATA past the connection window',
    scene: [OPEN_1, data(1, 0, Buffer.alloc(16_384)), data(1, 0, Buffer.alloc(16_384)), data(1, 0, Buffer.alloc(16_384)), data(1, 0, Buffer.alloc(16_383))],
    frame: data(1, 0, Buffer.alloc(1)),
    expect: connection(FLOW_CONTROL_ERROR),
  },
];

/** Frames the RFC says to ignore or accept: neither peer may answer them with an error. */
const CLIENT_FRAMES_THAT_PASS: readonly Sending[] = [
  { name: '§4.1, §5.5 a frame of unknown type', frame: unknownFrame() },
  { name: '§6.5.2 an unknown setting', frame: settings([0x99, 7]) },
  { name: '§6.3 PRIORITY on an idle stream', frame: priority(5) },
];

/** How a peer answered: an error GOAWAY, a reset, a close without either, or nothing. */
interface Answer {
  readonly kind: 'goaway' | 'reset' | 'closed' | 'none';
  readonly code?: number;
  readonly streamId?: number;
}

function answerOf(frames: readonly RawFrame[], closed: boolean): Answer {
  for (const frame of frames) {
    if (frame.type === FrameType.GOAWAY && frame.payload.readUInt32BE(4) !== Http2ErrorCode.NO_ERROR) return { kind: 'goaway', code: frame.payload.readUInt32BE(4) };
    if (frame.type === FrameType.RST_STREAM) return { kind: 'reset', code: frame.payload.readUInt32BE(0), streamId: frame.streamId };
  }
  return { kind: closed ? 'closed' : 'none' };
}

function describeAnswer(answer: Answer): string {
  if (answer.kind === 'goaway') return `GOAWAY(${answer.code})`;
  if (answer.kind === 'reset') return `RST_STREAM(stream ${answer.streamId}, ${answer.code})`;
  return answer.kind === 'closed' ? 'closes without GOAWAY' : 'no answer';
}

/** What `peer` answers to the preface, SETTINGS, the case's scene and its bad frame; waits for an error answer, then for the close. */
async function exchange(socketPath: string, testCase: Sending): Promise<{ answer: Answer; frames: RawFrame[]; closed: boolean }> {
  const peer = await RawConnection.open(socketPath);
  try {
    peer.send(Buffer.concat([CLIENT_PREFACE, ...(testCase.noSettings === true ? [] : [SETTINGS]), ...(testCase.scene ?? []), testCase.frame]));
    const answered = await peer.waitFor((frames) => answerOf(frames, false).kind !== 'none', ANSWER_WAIT_MS);
    if (answered && answerOf(peer.frames, false).kind === 'goaway') await peer.waitFor(() => false, ANSWER_WAIT_MS);
    return { answer: answerOf(peer.frames, peer.closed), frames: peer.frames, closed: peer.closed };
  } finally {
    peer.close();
  }
}

/** Each frame criscope sent the client, after the client sent `sent`, breaks no rule a client checks: the client can read all of it. */
function assertReadable(sent: Buffer, answered: readonly RawFrame[]): void {
  const rules = new ConnectionFrameRules();
  for (const frame of parseFrames(sent)) rules.fromClient.judge(frame.type, frame.flags, frame.streamId, frame.bytes);
  for (const frame of answered) {
    const violation = rules.fromServer.judge(frame.type, frame.flags, frame.streamId, frame.bytes);
    assert.equal(violation?.reason, undefined, `criscope sent the client a frame it cannot read (type ${frame.type} on stream ${frame.streamId})`);
  }
}

describe('RFC 9113 frame rules: criscope in front of the real containerd', () => {
  const runtime = testRuntime();
  const fixture = criscopeInFrontOf(runtime.containerdSocket);

  for (const testCase of CLIENT_VIOLATIONS) {
    const { code, scope } = testCase.expect;
    const rfcAnswer: Answer = scope === 'connection' ? { kind: 'goaway', code } : { kind: 'reset', code, streamId: 1 };
    it(`${testCase.name}: criscope answers ${describeAnswer(rfcAnswer)}, and is no laxer than containerd`, async (t) => {
      const [viaCriscope, direct] = await Promise.all([exchange(fixture.criscope.socketPath, testCase), exchange(runtime.containerdSocket, testCase)]);
      t.diagnostic(`containerd: ${describeAnswer(direct.answer)}; criscope: ${describeAnswer(viaCriscope.answer)}`);
      assert.deepEqual(viaCriscope.answer, rfcAnswer);
      assert.equal(viaCriscope.closed, scope === 'connection', scope === 'connection' ? 'criscope closes the connection' : 'the connection stays open');
      assertReadable(Buffer.concat([...(testCase.noSettings === true ? [] : [SETTINGS]), ...(testCase.scene ?? [])]), viaCriscope.frames);
      if (direct.answer.kind !== 'none') assert.notEqual(viaCriscope.answer.kind, 'none', 'containerd answers it, so criscope must');
      if (direct.answer.code !== undefined && direct.answer.kind === rfcAnswer.kind) assert.equal(viaCriscope.answer.code, direct.answer.code, "containerd's code");
    });
  }

  for (const testCase of CLIENT_FRAMES_THAT_PASS) {
    it(`${testCase.name}: passes, through criscope as at containerd`, async () => {
      const [viaCriscope, direct] = await Promise.all([exchange(fixture.criscope.socketPath, testCase), exchange(runtime.containerdSocket, testCase)]);
      assert.deepEqual(direct.answer, { kind: 'none' });
      assert.deepEqual(viaCriscope.answer, { kind: 'none' });
    });
  }

  for (const { name, frame } of [
    { name: '§6.9 WINDOW_UPDATE of 0 on stream 1', frame: windowUpdate(1, uint32(0)) },
    { name: '§6.3 PRIORITY of 4 bytes on stream 1', frame: priority(1, Buffer.alloc(4)) },
  ]) {
    it(`after a stream error (${name}), the connection carries the next call`, async () => {
      const peer = await RawConnection.open(fixture.criscope.socketPath);
      try {
        peer.send(Buffer.concat([CLIENT_PREFACE, SETTINGS]));
        assert.ok(await peer.waitFor((frames) => frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0), ANSWER_WAIT_MS), "the runtime's SETTINGS");
        peer.send(Buffer.concat([SETTINGS_ACK, OPEN_1, frame]));
        assert.ok(await peer.waitFor((frames) => frames.some((f) => f.type === FrameType.RST_STREAM), ANSWER_WAIT_MS), 'stream 1 is reset');
        peer.send(versionCall(3));
        const trailers = (frames: RawFrame[]): boolean => frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0);
        assert.ok(await peer.waitFor(trailers, 10_000), 'the call on stream 3 ends');
        const decoder = new HpackDecoder();
        const fields = peer.frames.filter((f) => f.type === FrameType.HEADERS).flatMap((f) => decoder.decode(f.payload));
        assert.equal(fields[fields.indexOf('grpc-status') + 1], '0');
        const message = Buffer.concat(peer.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 3).map((f) => f.payload));
        assert.match(message.toString('latin1'), /containerd/);
        assert.ok(!peer.frames.some((f) => f.type === FrameType.GOAWAY), 'no GOAWAY');
      } finally {
        peer.close();
      }
    });
  }
});

const RESPONSE_HEADERS = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);
/** A whole answer on `streamId`: headers, an empty message, trailers. */
const answer = (streamId: number): Buffer =>
  Buffer.concat([headers(streamId, Flag.END_HEADERS, RESPONSE_HEADERS), data(streamId, 0, Buffer.alloc(5)), headers(streamId, Flag.END_HEADERS | Flag.END_STREAM, OK_TRAILERS)]);

/** Frames a fake runtime sends once the call's HEADERS has come; `code` is what criscope must tell it. */
const RUNTIME_VIOLATIONS: readonly { name: string; frames: (streamId: number) => Buffer; code: number }[] = [
  { name: '§6.2 HEADERS on stream 0', frames: () => headers(0), code: PROTOCOL_ERROR },
  { name: '§6.1 DATA on stream 0', frames: () => data(0), code: PROTOCOL_ERROR },
  { name: '§5.1.1 HEADERS on a stream the client never opened', frames: (streamId) => headers(streamId + 2), code: PROTOCOL_ERROR },
  { name: '§6.7 PING of 7 bytes', frames: () => ping(0, Buffer.alloc(7)), code: FRAME_SIZE_ERROR },
  { name: '§6.5.2 SETTINGS_ENABLE_PUSH of 1 from a server', frames: () => settings([Setting.ENABLE_PUSH, 1]), code: PROTOCOL_ERROR },
  { name: '§6.10 CONTINUATION without a header block', frames: (streamId) => continuation(streamId), code: PROTOCOL_ERROR },
  { name: '§6.9 WINDOW_UPDATE of 0 on the connection', frames: () => windowUpdate(0, uint32(0)), code: PROTOCOL_ERROR },
  { name: '§4.2 a frame over the client’s SETTINGS_MAX_FRAME_SIZE', frames: (streamId) => data(streamId, 0, Buffer.alloc(16_385)), code: FRAME_SIZE_ERROR },
  { name: '§6.9 WINDOW_UPDATE of 0 on the call’s stream, then the answer', frames: (streamId) => Buffer.concat([windowUpdate(streamId, uint32(0)), answer(streamId)]), code: PROTOCOL_ERROR },
];

/** The frames on `streamId` after the one that ended it (END_STREAM or RST_STREAM). */
function framesAfterEnd(frames: readonly RawFrame[], streamId: number): RawFrame[] {
  const onStream = frames.filter((frame) => frame.streamId === streamId);
  const end = onStream.findIndex((frame) => frame.type === FrameType.RST_STREAM || ((frame.type === FrameType.HEADERS || frame.type === FrameType.DATA) && (frame.flags & Flag.END_STREAM) !== 0));
  return end < 0 ? [] : onStream.slice(end + 1);
}

describe('RFC 9113 frame rules: a runtime that breaks them', () => {
  let fakeRuntime: Server;
  let criscope: CriscopeProcess;
  let misbehave: (streamId: number) => Buffer = () => Buffer.alloc(0);
  /** What criscope sent the fake runtime, by connection, since the test began. */
  let connections: { frames: RawFrame[]; socket: Socket }[] = [];
  const received = (): RawFrame[] => connections.flatMap((connection) => connection.frames);

  let runtimeSocket: string;

  before(async () => {
    runtimeSocket = join(mkdtempSync(join(tmpdir(), 'criscope-conformance-')), 'runtime.sock');
    fakeRuntime = createServer((socket: Socket) => {
      let bytes = Buffer.alloc(0);
      let misbehaved = false;
      const seen = { frames: [] as RawFrame[], socket };
      connections.push(seen);
      socket.on('error', () => undefined);
      socket.write(SETTINGS);
      socket.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        seen.frames = parseFrames(bytes.subarray(CLIENT_PREFACE.length));
        const call = seen.frames.find((frame) => frame.type === FrameType.HEADERS);
        if (call !== undefined && !misbehaved) {
          misbehaved = true;
          socket.write(misbehave(call.streamId));
        }
      });
    });
    await new Promise<void>((resolve) => fakeRuntime.listen(runtimeSocket, resolve));
    criscope = await startCriscope({ runtimeSocket });
  });

  after(async () => {
    assert.equal(await criscope.stop(), 0);
    fakeRuntime.close();
  });

  for (const { name, frames, code } of RUNTIME_VIOLATIONS) {
    it(`${name}: the runtime gets GOAWAY(${code}); the client never sees the frame, and its call ends UNAVAILABLE`, async () => {
      misbehave = frames;
      connections = [];
      const client = await RawConnection.open(criscope.socketPath);
      const sent = Buffer.concat([SETTINGS, versionCall(1)]);
      try {
        client.send(Buffer.concat([CLIENT_PREFACE, sent]));
        const answered = (got: RawFrame[]): boolean => got.some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & Flag.END_STREAM) !== 0);
        assert.ok(await client.waitFor(answered, 5000), 'the call is answered');
        assertReadable(sent, client.frames);
        const decoder = new HpackDecoder();
        const fields = client.frames.filter((frame) => frame.type === FrameType.HEADERS).flatMap((frame) => decoder.decode(frame.payload));
        assert.equal(fields[fields.indexOf('grpc-status') + 1], '14');
        assert.match(fields[fields.indexOf('grpc-message') + 1] ?? '', /criscope: the runtime broke HTTP\/2/);
        assert.deepEqual(framesAfterEnd(client.frames, 1), [], 'nothing of the runtime’s on the call’s stream after criscope ended it');
      } finally {
        client.close();
      }
      await waitFor(() => received().some((frame) => frame.type === FrameType.GOAWAY), 'a GOAWAY to the runtime', 5000);
      const goawayFrame = received().find((frame) => frame.type === FrameType.GOAWAY);
      assert.equal(goawayFrame?.payload.readUInt32BE(4), code);
    });
  }

  it('§6.10 a client’s connection error inside a runtime header block: the connection ends with no frame inside the block', async () => {
    // The runtime starts its answer's header block and never ends it.
    misbehave = (streamId) => headers(streamId, 0, RESPONSE_HEADERS);
    connections = [];
    const client = await RawConnection.open(criscope.socketPath);
    const sent = Buffer.concat([SETTINGS, versionCall(1), ping(0, Buffer.alloc(7))]);
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, versionCall(1)]));
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1), 5000), 'the open header block reached the client');
      client.send(ping(0, Buffer.alloc(7)));
      await waitFor(() => client.closed, 'the connection to end', 5000);
      assertReadable(sent, client.frames);
    } finally {
      client.close();
    }
  });

  /** A client whose call on stream 1 (its request not ended) has reached a runtime that does not answer it. */
  async function clientWithCallAtRuntime(): Promise<RawConnection> {
    misbehave = () => Buffer.alloc(0);
    connections = [];
    const client = await RawConnection.open(criscope.socketPath);
    client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1]));
    await waitFor(() => received().some((frame) => frame.type === FrameType.HEADERS), 'the call at the runtime', 5000);
    return client;
  }

  it('§5.1 after a client’s stream error, the runtime sees nothing more on that stream, and no reset of a stream it never had', async () => {
    const client = await clientWithCallAtRuntime();
    try {
      // A stream error on the open stream 1, then a frame the client had in flight on it; then one on stream 3, which the client never opened but skipped.
      client.send(Buffer.concat([windowUpdate(1, uint32(0)), windowUpdate(1, uint32(1000)), headers(5, Flag.END_HEADERS, VERSION_REQUEST), priority(3, Buffer.alloc(4))]));
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.RST_STREAM && frame.streamId === 3), 5000), 'stream 3 is reset for the client');
      client.send(versionCall(7));
      await waitFor(() => received().some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 7), 'the next call at the runtime', 5000);
      const atRuntime = received();
      assert.ok(atRuntime.some((frame) => frame.type === FrameType.RST_STREAM && frame.streamId === 1), 'stream 1 is reset at the runtime');
      assert.deepEqual(framesAfterEnd(atRuntime, 1).map((frame) => frame.type), [], 'nothing on stream 1 after its reset');
      assert.ok(!atRuntime.some((frame) => frame.streamId === 3), 'nothing at all on stream 3, which the runtime never had');
    } finally {
      client.close();
    }
  });

  it('a runtime header block criscope cannot read, with a policy in force: the call is answered UNAVAILABLE before the connection closes', async () => {
    // With a policy, criscope must judge every call, so a connection it can no longer follow is closed, its calls answered first.
    const judging = await startCriscope({ runtimeSocket, config: { policyFile: policyFile({ rules: [{ kind: 'security', denyPrivileged: true }] }) } });
    misbehave = (streamId) => headers(streamId, Flag.END_HEADERS, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    connections = [];
    const client = await RawConnection.open(judging.socketPath);
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, versionCall(1)]));
      await waitFor(() => client.closed, 'the connection to close', 5000);
      const ending = client.frames.find((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & Flag.END_STREAM) !== 0);
      assert.ok(ending !== undefined, "criscope's answer reached the client before the close");
      // criscope's own blocks use no dynamic table entry, so a fresh decoder reads the answer.
      const fields = new HpackDecoder().decode(ending.payload);
      assert.equal(fields[fields.indexOf('grpc-status') + 1], '14');
      assert.match(fields[fields.indexOf('grpc-message') + 1] ?? '', /cannot follow this connection/);
    } finally {
      client.close();
      assert.equal(await judging.stop(), 0);
    }
  });

  it('a client ended for a connection error is let go once it hangs up, its calls with it', async () => {
    misbehave = () => Buffer.alloc(0);
    const inFlight = async (): Promise<number> => total(await scrape(criscope.httpUrl), 'criscope_cri_calls_in_flight');
    const before = await inFlight();
    for (let index = 0; index < 5; index++) {
      const client = await RawConnection.open(criscope.socketPath);
      try {
        client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1]));
        await waitFor(async () => (await inFlight()) > before, 'the call in flight', 5000);
        // A connection error with more bytes behind it in the same write: criscope stops reading them.
        client.send(Buffer.concat([ping(0, Buffer.alloc(7)), Buffer.alloc(100_000)]));
        assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.GOAWAY), 5000), 'GOAWAY');
      } finally {
        client.close();
      }
    }
    await waitFor(async () => (await inFlight()) === before, 'no call of those connections left in flight', 5000);
  });

  it('§5.1 with the runtime gone, a call criscope answered is answered once, even when its request trailers follow', async () => {
    // A runtime that accepts and hangs up at once: criscope answers for it.
    const gone = join(mkdtempSync(join(tmpdir(), 'criscope-conformance-')), 'gone.sock');
    const hangsUp = createServer((socket: Socket) => socket.destroy());
    await new Promise<void>((resolve) => hangsUp.listen(gone, resolve));
    const answering = await startCriscope({ runtimeSocket: gone });
    const client = await RawConnection.open(answering.socketPath);
    const endsOf1 = (got: readonly RawFrame[]): RawFrame[] => got.filter((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & Flag.END_STREAM) !== 0);
    const trailers = headers(1, Flag.END_HEADERS | Flag.END_STREAM, encodeHeaderBlock([['x-request-trailer', '1']]));
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1, data(1, 0, Buffer.alloc(5))]));
      assert.ok(await client.waitFor((got) => endsOf1(got).length > 0, 5000), 'criscope answers the call');
      client.send(trailers);
      await client.waitFor(() => false, 500);
      assert.equal(endsOf1(client.frames).length, 1, 'stream 1 ended once');
      assertReadable(Buffer.concat([SETTINGS, OPEN_1, data(1, 0, Buffer.alloc(5)), trailers]), client.frames);
    } finally {
      client.close();
      assert.equal(await answering.stop(), 0);
      hangsUp.close();
    }
  });

  /** The runtime answers each connection's first call with GOAWAY, its last-stream-id that call. */
  const goawayAtFirstCall = (streamId: number): Buffer => goaway(0, Buffer.concat([uint32(streamId), uint32(Http2ErrorCode.NO_ERROR)]));
  /** The fake runtime's side of the latest connection criscope opened to it. */
  const latestConnection = (): { frames: RawFrame[]; socket: Socket } | undefined => connections[connections.length - 1];

  it('§6.8 a stream opened past the runtime’s GOAWAY gets no answer from criscope, even when the runtime then goes', async () => {
    misbehave = goawayAtFirstCall;
    connections = [];
    const relay = await startCriscope({ runtimeSocket });
    const client = await RawConnection.open(relay.socketPath);
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1]));
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.GOAWAY), 5000), "the runtime's GOAWAY reached the client");
      // A call the client had under way as the GOAWAY came: past its last-stream-id, so the client retries it elsewhere.
      client.send(versionCall(3));
      await client.waitFor(() => false, 300);
      latestConnection()?.socket.destroy();
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & Flag.END_STREAM) !== 0), 5000), 'stream 1 is answered');
      await client.waitFor(() => false, 300);
      assert.deepEqual(client.frames.filter((frame) => frame.streamId === 3).map((frame) => frame.type), [], 'nothing on stream 3');
    } finally {
      client.close();
      assert.equal(await relay.stop(), 0);
    }
  });

  it('§6.8 with a policy in force, a stream opened past the runtime’s GOAWAY is judged all the same', async () => {
    misbehave = goawayAtFirstCall;
    connections = [];
    const judging = await startCriscope({ runtimeSocket, config: { policyFile: policyFile({ rules: [{ kind: 'security', denyPrivileged: true }] }) } });
    const client = await RawConnection.open(judging.socketPath);
    // A service that is not CRI's: the policy refuses it by its path.
    const foreignCall = Buffer.concat([
      headers(3, Flag.END_HEADERS, encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/containerd.services.tasks.v1.Tasks/List'], [':authority', 'localhost'], ['content-type', 'application/grpc'], ['te', 'trailers']])),
      data(3, Flag.END_STREAM, Buffer.alloc(5)),
    ]);
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1]));
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.GOAWAY), 5000), "the runtime's GOAWAY reached the client");
      client.send(foreignCall);
      const onStream3 = (): RawFrame[] => (latestConnection()?.frames ?? []).filter((frame) => frame.streamId === 3);
      await waitFor(() => onStream3().some((frame) => frame.type === FrameType.RST_STREAM), 'the refused stream reset at the runtime', 5000);
      assert.ok(!onStream3().some((frame) => frame.type === FrameType.DATA), 'the refused request never reached the runtime');
    } finally {
      client.close();
      assert.equal(await judging.stop(), 0);
    }
  });

  it('§5.1 after criscope resets a stream for a client’s error, what the runtime had under way on it goes no further, but for blocks its HPACK table needs', async () => {
    misbehave = () => Buffer.alloc(0);
    connections = [];
    const client = await RawConnection.open(criscope.socketPath);
    try {
      client.send(Buffer.concat([CLIENT_PREFACE, SETTINGS, OPEN_1, headers(3, Flag.END_HEADERS, VERSION_REQUEST)]));
      await waitFor(() => received().filter((frame) => frame.type === FrameType.HEADERS).length === 2, 'both calls at the runtime', 5000);
      client.send(Buffer.concat([windowUpdate(1, uint32(0)), windowUpdate(3, uint32(0))]));
      await waitFor(() => received().filter((frame) => frame.type === FrameType.RST_STREAM).length === 2, 'both reset at the runtime', 5000);
      // What the runtime had sent before criscope's resets reached it. On stream 1: headers that leave the HPACK table as it was, a
      // message and a reset of its own. On stream 3: trailers that add to the table, which the client must decode to keep in step.
      const tableEntry = literalField(Literal.WITH_INDEXING, 'grpc-status', '0');
      connections[0]?.socket.write(Buffer.concat([headers(1, Flag.END_HEADERS, RESPONSE_HEADERS), data(1, 0, Buffer.alloc(5)), rstStream(1), headers(3, Flag.END_HEADERS | Flag.END_STREAM, tableEntry)]));
      client.send(versionCall(5));
      await waitFor(() => received().some((frame) => frame.type === FrameType.HEADERS && frame.streamId === 5), 'the next call at the runtime', 5000);
      await client.waitFor(() => false, 300);
      const typesOn = (streamId: number): number[] => client.frames.filter((frame) => frame.streamId === streamId).map((frame) => frame.type);
      assert.deepEqual(typesOn(1), [FrameType.RST_STREAM], 'stream 1: criscope’s reset, and nothing of the runtime’s');
      assert.deepEqual(typesOn(3), [FrameType.RST_STREAM, FrameType.HEADERS], 'stream 3: criscope’s reset, then the block the client’s table needs');
      assert.deepEqual(client.frames.find((frame) => frame.type === FrameType.HEADERS && frame.streamId === 3)?.payload, tableEntry);
    } finally {
      client.close();
    }
  });

  it('§5.4.2 on a connection criscope can no longer follow, a client’s stream error still resets the stream at the runtime', async () => {
    const client = await clientWithCallAtRuntime();
    try {
      // A header block in more frames than criscope reads: from here it relays the connection without following its calls.
      client.send(Buffer.concat(splitBlock(3, VERSION_REQUEST, Array.from({ length: 300 }, () => 0), Flag.END_STREAM)));
      await waitFor(() => received().filter((frame) => frame.streamId === 3).length === 301, 'the long block at the runtime', 5000);
      client.send(windowUpdate(1, uint32(0)));
      assert.ok(await client.waitFor((got) => got.some((frame) => frame.type === FrameType.RST_STREAM && frame.streamId === 1), 5000), 'stream 1 is reset for the client');
      await waitFor(() => received().some((frame) => frame.type === FrameType.RST_STREAM && frame.streamId === 1), 'stream 1 reset at the runtime', 5000);
    } finally {
      client.close();
    }
  });
});
