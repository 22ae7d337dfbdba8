import type { TrackedCall } from './call-tracker.js';
import { FrameVerdict } from './frame-pump.js';
import { HeldRequest } from './held-request.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, dataFrames, framePayload, rstStreamFrame, windowUpdateFrame } from './http2-frames.js';
import { ClientDataFate, RequestFlow } from './request-flow.js';
import { Http2ErrorCode } from '../wire-codes.js';

/**
 * The most streams remembered as reset at the runtime while the client may
 * still send on them; past it the oldest is forgotten. Each is forgotten when
 * the client ends its side, but a client criscope has reset too never does:
 * without a bound, a client could grow the set with a frame per stream.
 */
const MOST_RESET_STREAMS_REMEMBERED = 1024;

/** What the owned streams of a connection need from the relay around them. */
export interface OwnedStreamsHost {
  /** False once nothing more goes to the runtime (it is gone, or the connection is closing). */
  relaying(): boolean;
  /** The runtime's SETTINGS_MAX_FRAME_SIZE. */
  runtimeMaxFrameSize(): number;
  /** Writes a frame of criscope's own to the runtime, after the frame being relayed. */
  toRuntime(frame: Buffer): void;
  /** Writes a frame of criscope's own to the client once the runtime's SETTINGS has reached it, if `stillDue()` then. */
  toClient(frame: Buffer, stillDue: () => boolean): void;
  /** Ends the client connection with GOAWAY(code). */
  rejectClient(code: number, reason: string): void;
  /** Ends the call on a stream as reset with `code`. */
  resetCall(streamId: number, code: number): void;
}

/** Told of each DATA frame an owned stream takes in (its content already queued): the held request's to decide on. */
export type HeldDataHandler = (streamId: number, call: TrackedCall | undefined, held: HeldRequest, length: number, content: Buffer, endStream: boolean) => void;

/**
 * The request streams of one connection that criscope owns: those whose
 * request it holds, and may rewrite, before they go on. For them criscope is
 * the flow-control endpoint on both sides (request-flow.ts keeps the
 * windows): it credits the client for what it takes in, and sends the
 * runtime no more than the runtime granted, on the stream or the
 * connection. It also keeps the DATA of other streams that a lengthened
 * request left no runtime credit for, in order, until there is.
 */
export class OwnedStreams {
  private readonly flow = new RequestFlow();
  private readonly streams = new Map<number, HeldRequest>();
  /** Pass-through DATA frames waiting, in order, for runtime credit a lengthened request spent. */
  private waitingData: Buffer[] = [];
  /**
   * Streams criscope reset at the runtime while the client may still send on
   * them: nothing more of theirs but PRIORITY goes on (RFC 9113 §5.1), until
   * the client's END_STREAM or RST_STREAM ends its side.
   */
  private readonly resetAtRuntime = new Set<number>();

  constructor(private readonly host: OwnedStreamsHost) {}

  /** True when criscope reset the stream at the runtime while the client may still send on it: only PRIORITY of the client's may follow there. */
  resetAtRuntimeOnly(streamId: number): boolean {
    return this.resetAtRuntime.size > 0 && this.resetAtRuntime.has(streamId);
  }

  /** Request bytes taken in and not yet sent, at the size they will be sent. */
  get pending(): number {
    return this.flow.pending;
  }

  /** criscope becomes the flow-control endpoint of a new stream, whose request it holds. */
  own(streamId: number): HeldRequest {
    const held = new HeldRequest();
    this.streams.set(streamId, held);
    this.flow.own(streamId);
    return held;
  }

  /** The held requests, by stream. */
  held(): IterableIterator<[number, HeldRequest]> {
    return this.streams.entries();
  }

  owns(streamId: number, held: HeldRequest): boolean {
    return this.streams.get(streamId) === held;
  }

  /** True while request bytes of the stream wait in criscope: a later request header block would overtake them. */
  waitsOn(streamId: number): boolean {
    return this.streams.has(streamId) || this.waitingData.some((frame) => streamOf(frame) === streamId);
  }

  /** A DATA frame from the client (the connection is read): on now, waiting for credit, or held (told to `onHeld`). */
  clientData(streamId: number, flags: number, frame: Buffer, call: TrackedCall | undefined, onHeld: HeldDataHandler): FrameVerdict {
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
      const endStream = (flags & Flag.END_STREAM) !== 0;
      if (held !== undefined) {
        held.append(content, endStream);
        onHeld(streamId, call, held, length, content, endStream);
      }
    }
    return FrameVerdict.Drop;
  }

  /**
   * Credit for a held frame just taken in: held to be judged, its bytes at
   * once (the whole message must arrive, whatever the runtime's stream
   * window); going on, only its padding (the runtime's credit for the rest
   * reaches the client as it comes). Padding's connection credit is the
   * client's again either way.
   */
  credit(streamId: number, held: HeldRequest, length: number, content: number): void {
    if (!held.endStream) {
      const given = this.flow.creditClientStream(streamId, held.mayGoOn ? 0 : content, length - content);
      if (given > 0) this.host.toClient(windowUpdateFrame(streamId, given), () => this.streams.get(streamId) === held);
    }
    this.giveClientCredit();
  }

  /** A held message was rewritten: `replacement` takes the place of its first `replacedBytes` bytes. */
  rewrite(streamId: number, held: HeldRequest, replacedBytes: number, replacement: Buffer): void {
    this.flow.resized(streamId, held.replaceFront(replacedBytes, replacement));
    this.giveClientCredit();
  }

  /** Client DATA criscope drops (its stream is refused): its connection credit is the client's again. */
  clientDataDropped(length: number): void {
    if (!this.flow.clientDataDropped(length)) {
      this.host.rejectClient(Http2ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
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
   * criscope resets the stream at the runtime (`code`): nothing more of it
   * goes on, and, while `clientStillSending`, what the client still sends on
   * it is dropped and credited back.
   */
  resetAtRuntimeSide(streamId: number, code: number, clientStillSending = true): void {
    if (this.host.relaying()) this.host.toRuntime(rstStreamFrame(streamId, code));
    if (clientStillSending) this.rememberResetAtRuntime(streamId);
    this.streamReset(streamId);
  }

  private rememberResetAtRuntime(streamId: number): void {
    this.resetAtRuntime.add(streamId);
    if (this.resetAtRuntime.size <= MOST_RESET_STREAMS_REMEMBERED) return;
    const oldest = this.resetAtRuntime.values().next();
    if (oldest.done !== true) this.resetAtRuntime.delete(oldest.value);
  }

  /** The runtime's GOAWAY: streams above `lastStreamId` were never processed, and never will be. */
  runtimeGoaway(lastStreamId: number): void {
    for (const streamId of [...this.streams.keys()]) if (streamId > lastStreamId) this.streamReset(streamId);
  }

  /** The runtime's SETTINGS (not an ACK), with the initial window it sets, if any. */
  runtimeSettings(initialWindow: number | undefined): void {
    this.flow.runtimeSettings(initialWindow);
    if (initialWindow !== undefined) this.sendWaiting();
  }

  /** The client ACKed the runtime's oldest unacknowledged SETTINGS: a raised initial window counts from here. */
  clientAckedSettings(): void {
    this.flow.clientAckedSettings();
    this.sendWaiting();
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

  /** Sends what a held stream may send now: as much as the runtime's stream and connection credit allow. */
  send(streamId: number): void {
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

  /** The held stream is over: what it still held never goes on, and its connection credit is the client's again. */
  private disown(streamId: number): void {
    const held = this.streams.get(streamId);
    if (held === undefined) return;
    this.streams.delete(streamId);
    this.flow.disown(streamId, held.clear());
    this.giveClientCredit();
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

  /**
   * The client sent DATA past its window (RFC 9113 §6.9.1): past the
   * connection's, the connection ends; past a held stream's, that stream.
   */
  private clientOverran(streamId: number, overrun: ClientDataFate): FrameVerdict {
    if (overrun === ClientDataFate.ConnectionOverrun) {
      this.host.rejectClient(Http2ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
      return FrameVerdict.Drop;
    }
    // The client's side is reset too: what it still had in flight is dropped until its frames stop.
    this.resetAtRuntimeSide(streamId, Http2ErrorCode.CANCEL);
    this.host.toClient(rstStreamFrame(streamId, Http2ErrorCode.FLOW_CONTROL_ERROR), () => true);
    this.host.resetCall(streamId, Http2ErrorCode.FLOW_CONTROL_ERROR);
    return FrameVerdict.Drop;
  }

  /** Connection credit the client is owed (held bytes dropped or sent smaller, DATA dropped). */
  private giveClientCredit(): void {
    const due = this.flow.takeClientCredit();
    if (due > 0) this.host.toClient(windowUpdateFrame(0, due), () => true);
  }
}

function streamOf(frame: Buffer): number {
  return frame.readUInt32BE(5) & 0x7fffffff;
}
