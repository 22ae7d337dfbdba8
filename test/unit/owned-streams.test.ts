import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FrameVerdict } from '../../src/relay/frame-pump.js';
import type { HeldRequest } from '../../src/relay/held-request.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, buildFrame, windowUpdateFrame } from '../../src/relay/http2-frames.js';
import { OwnedStreams, type OwnedStreamsHost } from '../../src/relay/owned-streams.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

/** The relay around the owned streams: the frames they wrote each way. */
class RecordingHost implements OwnedStreamsHost {
  readonly toRuntimeFrames: Buffer[] = [];
  readonly toClientFrames: Buffer[] = [];
  readonly rejected: number[] = [];
  relaying(): boolean {
    return true;
  }
  runtimeMaxFrameSize(): number {
    return 16_384;
  }
  toRuntime(frame: Buffer): void {
    for (let offset = 0; offset < frame.length; ) {
      const end = offset + FRAME_HEADER_LENGTH + frame.readUIntBE(offset, 3);
      this.toRuntimeFrames.push(frame.subarray(offset, end));
      offset = end;
    }
  }
  toClient(frame: Buffer, stillDue: () => boolean): void {
    if (stillDue()) this.toClientFrames.push(frame);
  }
  rejectClient(code: number): void {
    this.rejected.push(code);
  }
  resetCall(): void {
    return undefined;
  }
}

const data = (streamId: number, bytes: number, endStream = false): Buffer => buildFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, Buffer.alloc(bytes, streamId));
const streamsOf = (frames: readonly Buffer[]): number[] => frames.filter((frame) => frame[3] === FrameType.DATA).map((frame) => frame.readUInt32BE(5) & 0x7fffffff);
const ignoreHeld = (): void => undefined;

/** Stream 1 is held with 60,000 bytes, let go, and rewritten 10,000 bytes longer: more than the runtime's first window. */
function lengthenedRequest(): { owned: OwnedStreams; host: RecordingHost; held: HeldRequest } {
  const host = new RecordingHost();
  const owned = new OwnedStreams(host);
  const held = owned.own(1);
  for (let sent = 0; sent < 60_000; sent += 15_000) owned.clientData(1, 0, data(1, 15_000), undefined, ignoreHeld);
  held.released = true;
  owned.rewrite(1, held, 60_000, Buffer.alloc(70_000, 7));
  owned.send(1);
  return { owned, host, held };
}

describe('owned streams', () => {
  it('never send the runtime more than its connection window, and keep later pass-through DATA waiting, in order', () => {
    const { owned, host } = lengthenedRequest();
    const sentOfStream1 = (): number => host.toRuntimeFrames.filter((frame) => streamsOf([frame])[0] === 1).reduce((sum, frame) => sum + frame.length - FRAME_HEADER_LENGTH, 0);
    assert.equal(sentOfStream1(), 65_535, 'the first window, and no byte more');
    assert.equal(owned.clientData(3, 0, data(3, 2000), undefined, ignoreHeld), FrameVerdict.Drop, 'no room left for it: it waits');
    assert.equal(owned.clientData(5, 0, data(5, 1000), undefined, ignoreHeld), FrameVerdict.Drop);
    owned.runtimeWindowUpdate(0, windowUpdateFrame(0, 20_000));
    assert.deepEqual(streamsOf(host.toRuntimeFrames).slice(-2), [3, 5], 'waiting DATA first, in order');
    assert.equal(sentOfStream1(), 65_535, "stream 1's own window is still spent");
    owned.runtimeWindowUpdate(1, windowUpdateFrame(1, 10_000));
    assert.equal(sentOfStream1(), 70_000, 'then the rest of the held request');
  });

  it("drop a reset stream's waiting DATA, and give the client its credit back", () => {
    const { owned, host } = lengthenedRequest();
    owned.clientData(3, 0, data(3, 2000), undefined, ignoreHeld);
    const creditBefore = host.toClientFrames.length;
    owned.streamReset(3);
    owned.runtimeWindowUpdate(0, windowUpdateFrame(0, 20_000));
    assert.ok(!streamsOf(host.toRuntimeFrames).includes(3), 'nothing of stream 3 after its reset');
    assert.ok(host.toClientFrames.length > creditBefore, 'its connection credit went back to the client');
  });

  it('drop what the client still sends on a stream criscope reset at the runtime, until the client ends it', () => {
    const host = new RecordingHost();
    const owned = new OwnedStreams(host);
    owned.own(7);
    owned.resetAtRuntimeSide(7, Http2ErrorCode.CANCEL);
    const resets = host.toRuntimeFrames.length;
    assert.equal(owned.clientData(7, Flag.END_STREAM, data(7, 100, true), undefined, ignoreHeld), FrameVerdict.Drop);
    assert.equal(host.toRuntimeFrames.length, resets, 'nothing more reaches the runtime');
    assert.equal(owned.clientData(7, 0, data(7, 100), undefined, ignoreHeld), FrameVerdict.Forward, "after the client's END_STREAM, its frames are the runtime's to judge again");
  });

  it('remember a bounded number of streams reset at the runtime, forgetting the oldest first', () => {
    const owned = new OwnedStreams(new RecordingHost());
    // A client criscope resets too never ends its side: each such stream would otherwise be remembered for the connection's life.
    for (let streamId = 1; streamId <= 2 * 5000; streamId += 2) owned.resetAtRuntimeSide(streamId, Http2ErrorCode.CANCEL);
    const remembered = Array.from({ length: 5000 }, (_, index) => 2 * index + 1).filter((streamId) => owned.resetAtRuntimeOnly(streamId));
    assert.ok(remembered.length > 0 && remembered.length < 5000, `${remembered.length} of 5000 remembered`);
    assert.ok(owned.resetAtRuntimeOnly(9999), 'the latest is remembered');
    assert.ok(!owned.resetAtRuntimeOnly(1), 'the oldest is forgotten');
  });

  it("end the connection when the client sends past its connection window", () => {
    const host = new RecordingHost();
    const owned = new OwnedStreams(host);
    assert.equal(owned.clientData(1, 0, data(1, 16_384), undefined, ignoreHeld), FrameVerdict.Forward);
    for (let round = 0; round < 2; round++) owned.clientData(1, 0, data(1, 16_384), undefined, ignoreHeld);
    owned.clientData(1, 0, data(1, 16_383), undefined, ignoreHeld);
    assert.deepEqual(host.rejected, []);
    owned.clientData(1, 0, data(1, 1), undefined, ignoreHeld);
    assert.deepEqual(host.rejected, [Http2ErrorCode.FLOW_CONTROL_ERROR]);
  });
});
