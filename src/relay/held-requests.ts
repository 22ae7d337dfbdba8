import { decompressed } from '../cri/decode-call.js';
import { GrpcStatus } from '../errors.js';
import type { TrackedCall, TrackingContext } from './call-tracker.js';
import { FrameVerdict } from './frame-pump.js';
import { HeldRequest } from './held-request.js';
import { ErrorCode, FRAME_HEADER_LENGTH, Flag, FrameType, dataFrames, framePayload, rstStreamFrame, windowUpdateFrame } from './http2-frames.js';
import type { GateVerdict } from './request-gate.js';
import { ClientDataFate, RequestFlow } from './request-flow.js';

/**
 * The most a connection holds of requests not yet whole. The runtime never
 * credits what it has not seen, and its connection window (64 KiB at first)
 * is shared by all streams: past this, a request's head goes on and only its
 * last frames wait, so the client never stalls for credit. Such a request can
 * still be denied, but not rewritten.
 */
const MAX_UNJUDGED_BYTES = 32 * 1024;
/**
 * The most a connection holds at all, judged or not, before a held call is
 * answered RESOURCE_EXHAUSTED: what waits for the runtime's credit after a
 * rewrite, and what arrives while a whole request is judged.
 */
const MAX_HELD_BYTES = 1024 * 1024;
const GRPC_PREFIX_LENGTH = 5;

/** What the held requests of a connection need from the relay around them. */
export interface HeldRequestsHost {
  /** False once nothing more goes to the runtime (it is gone, or the connection is closing). */
  relaying(): boolean;
  /** The runtime's SETTINGS_MAX_FRAME_SIZE. */
  runtimeMaxFrameSize(): number;
  /** Writes a frame of criscope's own to the runtime, after the frame being relayed. */
  toRuntime(frame: Buffer): void;
  /** Writes a frame of criscope's own to the client once the runtime's SETTINGS has reached it, if `stillDue()` then. */
  toClient(frame: Buffer, stillDue: () => boolean): void;
  /**
   * Ends a call with criscope's own status once the runtime's SETTINGS has
   * reached the client, and then resets the client's side of the stream if
   * `resetClientSide` (its request had not ended).
   */
  answer(streamId: number, call: TrackedCall, status: number, message: string, resetClientSide: boolean): void;
  /** Ends the client connection with GOAWAY(code). */
  rejectClient(code: number, reason: string): void;
  /** The call followed on a stream. */
  call(streamId: number): TrackedCall | undefined;
  /** Ends the call on a stream as reset with `code`. */
  resetCall(streamId: number, code: number): void;
}

/**
 * The requests of one connection that policy holds until judged, and how
 * their bytes reach the runtime: held back, judged, then sent on as they
 * came, rewritten, or not at all. For these streams criscope is the
 * flow-control endpoint on both sides (request-flow.ts keeps the windows):
 * it never sends the runtime more than the runtime granted, and never lets
 * the client send more than it can pass on.
 */
export class HeldRequests {
  private readonly flow = new RequestFlow();
  private readonly streams = new Map<number, HeldRequest>();
  /** Held bytes of requests not yet whole (neither judged nor going on). */
  private unjudgedBytes = 0;
  /** Pass-through DATA frames waiting, in order, for runtime credit a lengthened request spent. */
  private waitingData: Buffer[] = [];
  /**
   * Streams criscope reset at the runtime while the client may still send on
   * them: nothing more of theirs goes on (RFC 9113 §5.1), until the client's
   * END_STREAM or RST_STREAM ends its side.
   */
  private readonly resetAtRuntime = new Set<number>();

  constructor(
    private readonly host: HeldRequestsHost,
    private readonly tracking: TrackingContext,
  ) {}

  /** criscope becomes the flow-control endpoint of a new stream, whose request it holds. */
  hold(streamId: number): HeldRequest {
    const held = new HeldRequest();
    this.streams.set(streamId, held);
    this.flow.own(streamId);
    return held;
  }

  /**
   * A call policy refuses by its path. Its stream is held (its DATA never
   * goes on) and the verdict applied once the header block has gone on: the
   * runtime's reset must follow the headers it resets.
   */
  refuse(streamId: number, call: TrackedCall, verdict: GateVerdict, endStream: boolean): void {
    if (verdict.decision.denial === undefined) {
      call.policy = verdict.decision;
      return;
    }
    const held = this.hold(streamId);
    held.judging = true;
    held.endStream = endStream;
    call.held = held;
    queueMicrotask(() => this.applyVerdict(streamId, call, held, verdict, 0));
  }

  /** True while request bytes of the stream wait in criscope: a later request header block would overtake them. */
  waitsOn(streamId: number): boolean {
    return this.streams.has(streamId) || this.waitingData.some((frame) => streamOf(frame) === streamId);
  }

  /** A DATA frame from the client (the connection is read): on now, waiting for credit, or held. */
  clientData(streamId: number, flags: number, frame: Buffer, call: TrackedCall | undefined): FrameVerdict {
    const length = frame.length - FRAME_HEADER_LENGTH;
    if (this.resetAtRuntime.has(streamId)) {
      if ((flags & Flag.END_STREAM) !== 0) this.resetAtRuntime.delete(streamId);
      this.clientDataDropped(length);
      return FrameVerdict.Drop;
    }
    const content = framePayload(frame, FrameType.DATA, flags);
    const fate = this.flow.clientData(streamId, length, content.length);
    if (fate === ClientDataFate.ConnectionOverrun || fate === ClientDataFate.StreamOverrun) return this.clientOverran(streamId, fate);
    call?.requestScanner.push(content);
    if (fate === ClientDataFate.Forward) return FrameVerdict.Forward;
    if (fate === ClientDataFate.Queue) this.waitingData.push(Buffer.from(frame));
    else {
      const held = this.streams.get(streamId);
      if (held !== undefined) this.holdData(streamId, call, held, length, content, (flags & Flag.END_STREAM) !== 0);
    }
    return FrameVerdict.Drop;
  }

  /** Client DATA criscope drops (its stream is refused): its connection credit is the client's again. */
  clientDataDropped(length: number): void {
    if (!this.flow.clientDataDropped(length)) {
      this.host.rejectClient(ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
      return;
    }
    this.giveClientCredit();
  }

  /**
   * The client reset the stream. Returns false when criscope had already
   * reset it at the runtime: the client's RST_STREAM then goes no further.
   */
  clientReset(streamId: number): boolean {
    this.streamReset(streamId);
    return !this.resetAtRuntime.delete(streamId);
  }

  /** The stream was reset (by either side): nothing of it may follow, so whatever waits is dropped. */
  streamReset(streamId: number): void {
    this.disown(streamId);
    if (this.waitingData.length === 0) return;
    this.waitingData = this.waitingData.filter((frame) => {
      if (streamOf(frame) !== streamId) return true;
      this.flow.queuedDropped(frame.length - FRAME_HEADER_LENGTH);
      return false;
    });
    this.giveClientCredit();
    this.sendWaiting();
  }

  /**
   * criscope resets the stream at the runtime (`code`) while the client's
   * side may still be open: nothing more of it goes on, and what the client
   * still sends on it is dropped and credited back.
   */
  resetAtRuntimeSide(streamId: number, code: number): void {
    if (this.host.relaying()) this.host.toRuntime(rstStreamFrame(streamId, code));
    this.resetAtRuntime.add(streamId);
    this.streamReset(streamId);
  }

  /** The runtime's GOAWAY: streams above `lastStreamId` were never processed, and never will be. */
  runtimeGoaway(lastStreamId: number): void {
    for (const streamId of [...this.streams.keys()]) if (streamId > lastStreamId) this.streamReset(streamId);
  }

  /** A call ended before its held request was whole (answered early): the runtime is told to forget the stream. */
  callEnded(call: TrackedCall): void {
    const held = call.held;
    if (held === undefined || !held.waitsUnjudged) return;
    for (const [streamId, candidate] of this.streams) {
      if (candidate === held) {
        this.abandon(streamId);
        return;
      }
    }
  }

  /** The runtime's SETTINGS (not an ACK), with the initial window it sets, if any. */
  runtimeSettings(initialWindow: number | undefined): void {
    this.flow.runtimeSettings(initialWindow);
    if (initialWindow !== undefined) this.sendWaiting();
  }

  /** The client ACKed the runtime's oldest unacknowledged SETTINGS. */
  clientAckedSettings(): void {
    this.flow.clientAckedSettings();
  }

  /**
   * A WINDOW_UPDATE from the runtime: its credit pays first for what criscope
   * has to send; the client gets the rest, so it never sends more than can go on.
   */
  runtimeWindowUpdate(streamId: number, frame: Buffer): FrameVerdict {
    const increment = frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff;
    const passOn = this.flow.runtimeWindowUpdate(streamId, increment);
    if (streamId === 0) this.sendWaiting();
    else this.send(streamId);
    if (passOn === increment) return FrameVerdict.Forward;
    if (passOn > 0) this.host.toClient(windowUpdateFrame(streamId, passOn), () => true);
    return FrameVerdict.Drop;
  }

  /**
   * DATA of a held stream: kept until the first message is whole, then
   * judged; what follows while it is judged waits too. Past the unjudged
   * allowance the head goes on, and the verdict still comes once it is whole.
   */
  private holdData(streamId: number, call: TrackedCall | undefined, held: HeldRequest, length: number, content: Buffer, endStream: boolean): void {
    const whole = endStream || call?.requestScanner.firstMessageEnded === true;
    if (held.waitsUnjudged && !whole && this.unjudgedBytes + content.length > MAX_UNJUDGED_BYTES) {
      this.unjudgedBytes -= held.bytes;
      held.headWentOn = true;
    }
    held.append(content, endStream);
    if (held.waitsUnjudged) this.unjudgedBytes += content.length;
    if (this.flow.pending > MAX_HELD_BYTES) {
      this.refuseHeld(streamId, call, held, GrpcStatus.RESOURCE_EXHAUSTED, `criscope: more than ${MAX_HELD_BYTES} bytes of requests are held on this connection`);
      return;
    }
    // Held to be judged, the bytes are credited at once: the whole message must arrive, whatever the runtime's stream window.
    // Going on, only padding is: the runtime's credit for the rest reaches the client as it comes.
    if (!endStream) this.creditClientStream(streamId, held.mayGoOn ? 0 : content.length, length - content.length);
    // Padding is not sent on: its connection credit is the client's again.
    this.giveClientCredit();
    if (whole && !held.judging && !held.released && call !== undefined) {
      if (held.waitsUnjudged) this.unjudgedBytes -= held.bytes;
      held.judging = true;
      this.judge(streamId, call, held);
    }
    this.send(streamId);
  }

  /** The held stream is over: what it still held never goes on, and its connection credit is the client's again. */
  private disown(streamId: number): void {
    const held = this.streams.get(streamId);
    if (held === undefined) return;
    if (held.waitsUnjudged) this.unjudgedBytes -= held.bytes;
    this.streams.delete(streamId);
    this.flow.disown(streamId, held.clear());
    this.giveClientCredit();
  }

  /** Sends what a held stream may send now: as much as the runtime's stream and connection credit allow. */
  private send(streamId: number): void {
    const held = this.streams.get(streamId);
    if (held === undefined || !held.mayGoOn || !this.host.relaying()) return;
    const bytes = Math.min(held.bytes, this.flow.sendable(streamId));
    const ends = held.endStream && bytes === held.bytes;
    if (bytes === 0 && !ends) return;
    this.host.toRuntime(dataFrames(streamId, held.take(bytes), ends, this.host.runtimeMaxFrameSize()));
    this.flow.sent(streamId, bytes);
    if (ends) {
      // The request is all sent: from here the stream's frames pass through.
      this.streams.delete(streamId);
      this.flow.disown(streamId, 0);
    }
  }

  /** After new runtime credit: waiting pass-through DATA first, in order, then held streams. */
  private sendWaiting(): void {
    let sent = 0;
    for (const frame of this.waitingData) {
      const length = frame.length - FRAME_HEADER_LENGTH;
      if (!this.host.relaying() || !this.flow.fitsRuntime(length)) break;
      this.host.toRuntime(frame);
      this.flow.queuedSent(length);
      sent++;
    }
    if (sent > 0) this.waitingData.splice(0, sent);
    for (const streamId of this.streams.keys()) this.send(streamId);
  }

  private judge(streamId: number, call: TrackedCall, held: HeldRequest): void {
    const { gate, keepMessagesUpTo, maxKeptBytesPerConnection, log } = this.tracking;
    const method = call.judgedAs;
    if (gate === undefined || method === undefined) {
      // Not reached: a call is held only when both are there. Should it be, the request goes on as it came.
      held.released = true;
      this.send(streamId);
      return;
    }
    const first = call.requestScanner.first;
    // Not kept for the connection's keep budget: a denial for it is RESOURCE_EXHAUSTED, which may pass once other calls end.
    const overBudget = call.requestScanner.notKept === 'over budget';
    let message: Buffer | undefined;
    let unreadable: string | undefined;
    if (overBudget) {
      unreadable = `the request cannot be judged: this connection's kept-bytes limit (maxKeptBytesPerConnection, ${maxKeptBytesPerConnection} bytes) was reached`;
    } else if (first === undefined) {
      unreadable = call.requestScanner.messages === 0 ? 'the request carries no message' : `the request message is larger than ${keepMessagesUpTo} bytes`;
    } else {
      try {
        message = decompressed(first, call.requestEncoding, keepMessagesUpTo);
      } catch (error) {
        unreadable = `the request message cannot be decompressed: ${(error as Error).message}`;
      }
    }
    gate.judge(method, message, unreadable, !held.headWentOn).then(
      (verdict) => this.applyVerdict(streamId, call, held, verdict, first?.payload.length ?? 0, overBudget ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.PERMISSION_DENIED),
      (error: unknown) => {
        log.error({ err: error, path: call.path }, 'policy could not judge a call');
        this.applyVerdict(streamId, call, held, undefined, 0);
      },
    );
  }

  /**
   * Carries out the gate's verdict on a held request: it goes on as it came,
   * goes on rewritten, or never reaches the runtime (which is told to forget
   * the stream) while the client gets criscope's answer.
   */
  private applyVerdict(
    streamId: number,
    call: TrackedCall,
    held: HeldRequest,
    verdict: GateVerdict | undefined,
    originalLength: number,
    denialStatus: number = GrpcStatus.PERMISSION_DENIED,
  ): void {
    held.released = true;
    if (verdict !== undefined) call.policy = verdict.decision;
    if (this.streams.get(streamId) !== held) return;
    if (!this.host.relaying() || this.host.call(streamId) !== call) {
      // The call ended meanwhile (answered early, or for a runtime that went away): what was held never goes on.
      this.abandon(streamId);
      return;
    }
    const denial = verdict === undefined ? 'criscope policy: the call could not be judged' : verdict.decision.denial;
    if (denial !== undefined) {
      this.refuseHeld(streamId, call, held, verdict === undefined ? GrpcStatus.INTERNAL : denialStatus, denial);
      return;
    }
    const rewritten = verdict?.rewritten;
    if (rewritten !== undefined) {
      const message = Buffer.allocUnsafe(GRPC_PREFIX_LENGTH + rewritten.length);
      message[0] = 0;
      message.writeUInt32BE(rewritten.length, 1);
      rewritten.copy(message, GRPC_PREFIX_LENGTH);
      // Anything after the first message goes on as it came (gRPC unary requests have none).
      this.flow.resized(streamId, held.replaceFront(GRPC_PREFIX_LENGTH + originalLength, message));
      this.giveClientCredit();
    }
    this.send(streamId);
  }

  /**
   * A held call that must not reach the runtime: the runtime is told to
   * forget the stream before it has seen the message, and the client gets
   * `status` from criscope.
   */
  private refuseHeld(streamId: number, call: TrackedCall | undefined, held: HeldRequest, status: number, message: string): void {
    const clientStillSending = !held.endStream;
    this.resetAtRuntimeSide(streamId, ErrorCode.CANCEL);
    if (!clientStillSending) this.resetAtRuntime.delete(streamId);
    if (call !== undefined) this.host.answer(streamId, call, status, message, clientStillSending);
  }

  /** A held request whose call ended before it went on: the runtime is told to forget the stream. */
  private abandon(streamId: number): void {
    const clientStillSending = this.streams.get(streamId)?.endStream !== true;
    this.resetAtRuntimeSide(streamId, ErrorCode.CANCEL);
    if (!clientStillSending) this.resetAtRuntime.delete(streamId);
  }

  /**
   * The client sent DATA past its window (RFC 9113 §6.9.1): past the
   * connection's, the connection ends; past a held stream's, that stream.
   */
  private clientOverran(streamId: number, overrun: ClientDataFate): FrameVerdict {
    if (overrun === ClientDataFate.ConnectionOverrun) {
      this.host.rejectClient(ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
      return FrameVerdict.Drop;
    }
    // The client's side is reset too: what it still had in flight is dropped until its frames stop.
    this.resetAtRuntimeSide(streamId, ErrorCode.CANCEL);
    this.host.toClient(rstStreamFrame(streamId, ErrorCode.FLOW_CONTROL_ERROR), () => true);
    this.host.resetCall(streamId, ErrorCode.FLOW_CONTROL_ERROR);
    return FrameVerdict.Drop;
  }

  /** Connection credit the client is owed (held bytes dropped or sent smaller, DATA dropped). */
  private giveClientCredit(): void {
    const due = this.flow.takeClientCredit();
    if (due > 0) this.host.toClient(windowUpdateFrame(0, due), () => true);
  }

  /** Stream credit of criscope's own for a held stream whose request is still coming: `ahead` of the runtime's, and its `own`. */
  private creditClientStream(streamId: number, ahead: number, own: number): void {
    const held = this.streams.get(streamId);
    if (held === undefined || held.endStream) return;
    const given = this.flow.creditClientStream(streamId, ahead, own);
    if (given > 0) this.host.toClient(windowUpdateFrame(streamId, given), () => this.streams.get(streamId) === held);
  }
}

function streamOf(frame: Buffer): number {
  return frame.readUInt32BE(5) & 0x7fffffff;
}
