import { decompressed } from '../cri/decode-call.js';
import type { TrackedCall, TrackingContext } from './call-tracker.js';
import type { FrameVerdict } from './frame-pump.js';
import type { HeldRequest } from './held-request.js';
import type { OwnedStreams } from './owned-streams.js';
import type { GateVerdict } from '../cri/policy-decision.js';
import { GrpcStatus, Http2ErrorCode } from '../wire-codes.js';

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

/** What judging held requests needs from the relay around them. */
export interface HeldRequestsHost {
  /** False once nothing more goes to the runtime (it is gone, or the connection is closing). */
  relaying(): boolean;
  /**
   * Ends a call with criscope's own status once the runtime's SETTINGS has
   * reached the client, and then resets the client's side of the stream if
   * `resetClientSide` (its request had not ended).
   */
  answer(streamId: number, call: TrackedCall, status: number, message: string, resetClientSide: boolean): void;
  /** The call followed on a stream. */
  call(streamId: number): TrackedCall | undefined;
}

/**
 * The requests of one connection that policy holds until judged: held back
 * (by the owned streams, which keep their bytes and flow control), judged,
 * then sent on as they came, rewritten, or not at all.
 */
export class HeldRequests {
  constructor(
    private readonly owned: OwnedStreams,
    private readonly host: HeldRequestsHost,
    private readonly tracking: TrackingContext,
  ) {}

  /** Holds a new call's request until it is judged. */
  hold(streamId: number): HeldRequest {
    return this.owned.own(streamId);
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

  /** A DATA frame from the client (the connection is read): on now, waiting for credit, or held to be judged. */
  clientData(streamId: number, flags: number, frame: Buffer, call: TrackedCall | undefined): FrameVerdict {
    return this.owned.clientData(streamId, flags, frame, call, this.onHeldData);
  }

  /** A call ended before its held request was whole (answered early): the runtime is told to forget the stream. */
  callEnded(call: TrackedCall): void {
    const held = call.held;
    if (held === undefined || !held.waitsUnjudged) return;
    for (const [streamId, candidate] of this.owned.held()) {
      if (candidate === held) {
        this.abandon(streamId, held);
        return;
      }
    }
  }

  /**
   * DATA of a held stream: kept until the first message is whole, then
   * judged; what follows while it is judged waits too. Past the unjudged
   * allowance the head goes on, and the verdict still comes once it is whole.
   */
  private readonly onHeldData = (streamId: number, call: TrackedCall | undefined, held: HeldRequest, length: number, content: Buffer, endStream: boolean): void => {
    const whole = endStream || call?.requestScanner.firstMessageEnded === true;
    if (held.waitsUnjudged && !whole && this.unjudgedBytes() > MAX_UNJUDGED_BYTES) held.headWentOn = true;
    if (this.owned.pending > MAX_HELD_BYTES) {
      this.refuseHeld(streamId, call, held, GrpcStatus.RESOURCE_EXHAUSTED, `criscope: more than ${MAX_HELD_BYTES} bytes of requests are held on this connection`);
      return;
    }
    this.owned.credit(streamId, held, length, content.length);
    if (whole && !held.judging && !held.released && call !== undefined) {
      held.judging = true;
      this.judge(streamId, call, held);
    }
    this.owned.send(streamId);
  };

  /** Held bytes of requests not yet whole (neither judged nor going on). */
  private unjudgedBytes(): number {
    let bytes = 0;
    for (const [, held] of this.owned.held()) if (held.waitsUnjudged) bytes += held.bytes;
    return bytes;
  }

  private judge(streamId: number, call: TrackedCall, held: HeldRequest): void {
    const { gate, keepMessagesUpTo, maxKeptBytesPerConnection, log } = this.tracking;
    const method = call.judgedAs;
    if (method === undefined || !gate.inForce) {
      // Not reached: only a call the gate judges is held. Should it be, the request goes on as it came.
      held.released = true;
      this.owned.send(streamId);
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
      (verdict) => {
        if (verdict.failure !== undefined) log.error({ err: verdict.failure, path: call.path }, 'policy could not judge a call');
        this.applyVerdict(streamId, call, held, verdict, first?.payload.length ?? 0, overBudget ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.PERMISSION_DENIED);
      },
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
    if (!this.owned.owns(streamId, held)) return;
    if (!this.host.relaying() || this.host.call(streamId) !== call) {
      // The call ended meanwhile (answered early, or for a runtime that went away): what was held never goes on.
      this.abandon(streamId, held);
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
      this.owned.rewrite(streamId, held, GRPC_PREFIX_LENGTH + originalLength, message);
    }
    this.owned.send(streamId);
  }

  /**
   * A held call that must not reach the runtime: the runtime is told to
   * forget the stream before it has seen the message, and the client gets
   * `status` from criscope.
   */
  private refuseHeld(streamId: number, call: TrackedCall | undefined, held: HeldRequest, status: number, message: string): void {
    const clientStillSending = !held.endStream;
    this.owned.resetAtRuntimeSide(streamId, Http2ErrorCode.CANCEL, clientStillSending);
    if (call !== undefined) this.host.answer(streamId, call, status, message, clientStillSending);
  }

  /** A held request whose call ended before it went on: the runtime is told to forget the stream. */
  private abandon(streamId: number, held: HeldRequest): void {
    this.owned.resetAtRuntimeSide(streamId, Http2ErrorCode.CANCEL, !held.endStream);
  }
}
