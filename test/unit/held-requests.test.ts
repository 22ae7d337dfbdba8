import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CallTracker, type TrackedCall } from '../../src/relay/call-tracker.js';
import { FrameVerdict } from '../../src/relay/frame-pump.js';
import { HeldRequests, type HeldRequestsHost } from '../../src/relay/held-requests.js';
import { OwnedStreams, type OwnedStreamsHost } from '../../src/relay/owned-streams.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, buildFrame, windowUpdateFrame } from '../../src/relay/http2-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';
import type { RequestGate } from '../../src/relay/request-gate.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { criTable } from '../support/cri-client.js';
import { grpcFrame } from '../support/raw-h2.js';
import type { GateVerdict, PolicyDecision } from '../../src/cri/policy-decision.js';
import { GrpcStatus } from '../../src/wire-codes.js';

const CREATE_CONTAINER = '/runtime.v1.RuntimeService/CreateContainer';

/** The relay around the held requests, as far as they can tell: what they wrote each way, and what they answered. */
class RecordingHost implements HeldRequestsHost, OwnedStreamsHost {
  readonly toRuntimeFrames: Buffer[] = [];
  readonly toClientFrames: Buffer[] = [];
  readonly answers: { streamId: number; status: number; message: string; resetClientSide: boolean }[] = [];
  calls: CallTracker | undefined;
  relaying(): boolean {
    return true;
  }
  runtimeMaxFrameSize(): number {
    return 16_384;
  }
  toRuntime(frame: Buffer): void {
    this.toRuntimeFrames.push(...splitFrames(frame));
  }
  toClient(frame: Buffer, stillDue: () => boolean): void {
    if (stillDue()) this.toClientFrames.push(frame);
  }
  answer(streamId: number, _call: TrackedCall, status: number, message: string, resetClientSide: boolean): void {
    this.answers.push({ streamId, status, message, resetClientSide });
  }
  rejectClient(code: number, reason: string): void {
    throw new Error(`the client was rejected (${code}): ${reason}`);
  }
  call(streamId: number): TrackedCall | undefined {
    return this.calls?.get(streamId);
  }
  resetCall(streamId: number, code: number): void {
    this.calls?.reset(streamId, code);
  }
}

function splitFrames(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const end = offset + FRAME_HEADER_LENGTH + bytes.readUIntBE(offset, 3);
    frames.push(bytes.subarray(offset, end));
    offset = end;
  }
  return frames;
}

const decision = (denial: string | undefined): PolicyDecision => ({ method: 'CreateContainer', pod: { namespace: 'default', name: 'pod', uid: 'uid', labels: {} }, findings: [], denial, clamps: [] });

/** A gate that holds every CreateContainer and answers each judgement with `verdict`. */
function gateAnswering(verdict: GateVerdict): RequestGate {
  return { inForce: true, refuses: () => undefined, holds: () => true, judge: () => Promise.resolve(verdict) };
}

function heldRequestsWith(gate: RequestGate): { held: HeldRequests; owned: OwnedStreams; host: RecordingHost; calls: CallTracker } {
  const host = new RecordingHost();
  const tracking = { table: criTable, observer: { onCall: (): undefined => undefined }, keepMessagesUpTo: 1 << 20, maxKeptBytesPerConnection: 1 << 24, log: createLogger('silent'), gate };
  const calls = new CallTracker(tracking, new KeepBudget(1 << 24), () => undefined);
  host.calls = calls;
  const owned = new OwnedStreams(host);
  return { held: new HeldRequests(owned, host, tracking), owned, host, calls };
}

/** Opens a held CreateContainer on `streamId`. */
function holdCall(held: HeldRequests, calls: CallTracker, streamId: number): TrackedCall {
  const call = calls.requestHeaders(streamId, [':path', CREATE_CONTAINER]);
  assert.ok(call);
  call.held = held.hold(streamId);
  return call;
}

const dataFrame = (streamId: number, payload: Buffer, endStream: boolean): Buffer => buildFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);
const payloadOf = (frames: readonly Buffer[], type: number): Buffer => Buffer.concat(frames.filter((frame) => frame[3] === type).map((frame) => frame.subarray(FRAME_HEADER_LENGTH)));
const judged = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('held requests', () => {
  it('take a request in whole past the runtime stream window, and send it rewritten as the runtime grants credit', async () => {
    const rewritten = Buffer.alloc(1600, 9);
    const { held, owned, host, calls } = heldRequestsWith(gateAnswering({ decision: decision(undefined), rewritten }));
    owned.runtimeSettings(1000);
    owned.clientAckedSettings();
    const call = holdCall(held, calls, 1);
    const message = grpcFrame(Buffer.alloc(1500, 7));
    assert.equal(held.clientData(1, 0, dataFrame(1, message.subarray(0, 1000), false), call), FrameVerdict.Drop);
    assert.deepEqual(host.toClientFrames, [windowUpdateFrame(1, 1000)], 'criscope credits what it holds, so the rest can come');
    assert.equal(held.clientData(1, Flag.END_STREAM, dataFrame(1, message.subarray(1000), true), call), FrameVerdict.Drop);
    assert.deepEqual(host.toRuntimeFrames, [], 'nothing reaches the runtime before the verdict');
    await judged();
    assert.equal(payloadOf(host.toRuntimeFrames, FrameType.DATA).length, 1000, 'no more than the stream window');
    assert.equal(owned.runtimeWindowUpdate(1, windowUpdateFrame(1, 1000)), FrameVerdict.Drop, "the runtime's stream credit is criscope's");
    assert.deepEqual(payloadOf(host.toRuntimeFrames, FrameType.DATA), grpcFrame(rewritten));
    assert.equal((host.toRuntimeFrames.at(-1) ?? Buffer.alloc(5))[4] & Flag.END_STREAM, Flag.END_STREAM, 'ending the stream');
  });

  it('drop a denied request, and what the client still sends on it, giving the client its credit back', async () => {
    const { held, owned, host, calls } = heldRequestsWith(gateAnswering({ decision: decision('denied by a rule'), rewritten: undefined }));
    const call = holdCall(held, calls, 1);
    held.clientData(1, 0, dataFrame(1, grpcFrame(Buffer.alloc(100)), false), call);
    await judged();
    assert.deepEqual(host.answers, [{ streamId: 1, status: GrpcStatus.PERMISSION_DENIED, message: 'denied by a rule', resetClientSide: true }]);
    assert.deepEqual(host.toRuntimeFrames.map((frame) => frame[3]), [FrameType.RST_STREAM], 'the runtime is only told to forget the stream');
    const credited = payloadOf(host.toClientFrames, FrameType.WINDOW_UPDATE).length;
    assert.equal(held.clientData(1, Flag.END_STREAM, dataFrame(1, Buffer.alloc(40), true), calls.get(1)), FrameVerdict.Drop, 'late DATA never reaches the runtime after its reset (RFC 9113 §5.1)');
    assert.ok(payloadOf(host.toClientFrames, FrameType.WINDOW_UPDATE).length > credited, 'and its connection credit comes back');
    assert.equal(owned.clientReset(1), true, 'the client side has ended: a later reset of its own is the runtime\'s to see');
  });

  it("keep the client's reset of a stream criscope already reset from the runtime", async () => {
    const { held, owned, host, calls } = heldRequestsWith(gateAnswering({ decision: decision('denied'), rewritten: undefined }));
    const call = holdCall(held, calls, 3);
    held.clientData(3, 0, dataFrame(3, grpcFrame(Buffer.alloc(10)), false), call);
    await judged();
    assert.equal(host.toRuntimeFrames.filter((frame) => frame[3] === FrameType.RST_STREAM).length, 1);
    assert.equal(owned.clientReset(3), false);
  });

  it('give back what streams above the runtime GOAWAY held', () => {
    const never = new Promise<GateVerdict>(() => undefined);
    const { held, owned, host, calls } = heldRequestsWith({ inForce: true, refuses: () => undefined, holds: () => true, judge: () => never });
    held.clientData(5, 0, dataFrame(5, Buffer.alloc(3000), false), holdCall(held, calls, 5));
    const connectionCredit = (): number[] => host.toClientFrames.filter((frame) => frame[3] === FrameType.WINDOW_UPDATE && frame.readUInt32BE(5) === 0).map((frame) => frame.readUInt32BE(FRAME_HEADER_LENGTH));
    assert.deepEqual(connectionCredit(), [], 'held, the bytes still count against the connection');
    owned.runtimeGoaway(3);
    assert.deepEqual(connectionCredit(), [3000], 'the runtime will never process stream 5: its bytes are the client\'s again');
    assert.equal(owned.waitsOn(5), false);
  });
});
