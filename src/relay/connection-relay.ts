import { connect, type Socket } from 'node:net';
import { GrpcStatus } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { CallTracker, type TrackedCall, type TrackingContext } from './call-tracker.js';
import { FramePump, FrameVerdict } from './frame-pump.js';
import { ConnectionFrameRules } from './frame-rule-state.js';
import type { Violation } from './frame-rules.js';
import { HeaderBlockReader, type HeaderBlock } from './header-blocks.js';
import { HeldRequests, type HeldRequestsHost } from './held-requests.js';
import { KeepBudget } from './keep-budget.js';
import {
  CLIENT_PREFACE,
  ErrorCode,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  framePayload,
  goawayFrame,
  pingAckFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './http2-frames.js';
import { ClientAnswers } from './client-answers.js';
import { RequestReparenting } from './request-reparenting.js';
import { clientSettings, runtimeSettings, type SettingsParties } from './settings-exchange.js';
import { StreamLimits } from './stream-limits.js';

/** Tells whether the runtime answers, once per change rather than once per connection. */
export interface RuntimeReachability {
  connected(endpoint: string): void;
  unreachable(endpoint: string, reason: string): void;
}

export interface ConnectionContext {
  readonly tracking: TrackingContext;
  /** The runtime endpoint this connection is relayed to, and its socket path. */
  readonly endpoint: string;
  readonly upstreamPath: string;
  readonly reachability: RuntimeReachability;
  readonly log: Logger;
  /** Called when a call ends (the server may be waiting for the last one). */
  readonly onCallEnded: () => void;
  /** Called once when the client connection is gone. */
  readonly onClosed: (relay: ConnectionRelay) => void;
}

type State = 'preface' | 'relaying' | 'unavailable' | 'closed';

/** How long an unavailable connection waits for the client's first call, and lingers after each answer. */
const UNAVAILABLE_FIRST_CALL_WAIT_MS = 2000;
const UNAVAILABLE_LINGER_MS = 100;
/** A connection that has not sent the HTTP/2 preface by then is not a gRPC client: it is closed. */
const PREFACE_TIMEOUT_MS = 10_000;

/**
 * Relays one client connection to its own connection to the runtime, at the
 * HTTP/2 frame level: every frame passes unchanged in both directions (so
 * flow control, settings, pings, resets and HPACK state stay end to end),
 * while criscope reads headers and messages on the way to record each call.
 *
 * criscope writes frames of its own only when the runtime cannot answer
 * (UNAVAILABLE), while shutting down (GOAWAY, the end of streaming calls), and
 * to give back flow-control credit for frames it drops; always between whole
 * frames, outside header blocks, and encoded so that neither peer's HPACK
 * table changes.
 *
 * With tracing on, a request whose client sent a traceparent is forwarded
 * with criscope's span as the parent instead. That block is re-encoded, and
 * from then on every request block of the connection is: the runtime's HPACK
 * table no longer follows the client's, so criscope decodes with the client's
 * table and encodes without any (literals only), changing no field but
 * traceparent.
 *
 * With a policy in force, the DATA of each call it judges is held until the
 * gate's verdict: then it goes on as it came, goes on rewritten, or the
 * runtime is told to forget the stream and the client gets PERMISSION_DENIED.
 * For such a stream criscope is the flow-control endpoint on both sides (see
 * request-flow.ts): it never sends the runtime more than the runtime granted,
 * and never lets the client send more than it can pass on.
 */
export class ConnectionRelay {
  private state: State = 'preface';
  private readonly prefaceTimer: NodeJS.Timeout;
  private preface: Buffer = Buffer.alloc(0);
  private upstream: Socket | undefined;
  private upstreamConnected = false;
  private upstreamError: string | undefined;
  private readonly calls: CallTracker;
  private readonly toUpstream: FramePump;
  private readonly toClient: FramePump;
  /** The HPACK context of each direction: the client's encoder, and the runtime's. */
  private readonly requestBlocks: HeaderBlockReader;
  private readonly responseBlocks: HeaderBlockReader;
  /** Present when tracing is on: request blocks with a traceparent go on re-parented. */
  private readonly reparenting: RequestReparenting | undefined;
  private readonly held: HeldRequests;
  private readonly answers: ClientAnswers;
  private readonly settingsParties: SettingsParties;
  private readonly limits = new StreamLimits();
  /** True once the connection can no longer be read: frames still pass, calls are no longer recorded. */
  private blind = false;
  private clientSentSettings = false;
  /** Whether the request header block being received was withheld from the runtime. */
  private requestBlockRefused = false;
  /** True once a request header block was withheld from the runtime: its HPACK table is behind. */
  private withheldRequestBlock = false;
  private unavailableCloseTimer: NodeJS.Timeout | undefined;
  private unavailableReason = '';

  constructor(
    private readonly client: Socket,
    private readonly context: ConnectionContext,
  ) {
    this.calls = new CallTracker(context.tracking, new KeepBudget(context.tracking.maxKeptBytesPerConnection), this.onCallEnded);
    const rules = new ConnectionFrameRules();
    this.toUpstream = new FramePump(undefined, {
      onFrame: this.onClientFrame,
      onUnreadable: this.goBlind,
      onViolation: this.onClientViolation,
      onOversized: (length, limit) => this.onClientViolation({ code: ErrorCode.FRAME_SIZE_ERROR, reason: `a ${length}-byte frame exceeds the runtime's limit of ${limit} (RFC 9113 §4.2)`, scope: 'connection' }, 0),
    }, rules.fromClient);
    this.toClient = new FramePump(client, {
      onFrame: this.onRuntimeFrame,
      onUnreadable: this.goBlind,
      onViolation: this.rejectRuntime,
      onOversized: (length, limit) => this.rejectRuntime({ code: ErrorCode.FRAME_SIZE_ERROR, reason: `a ${length}-byte frame, over the client's limit of ${limit} (RFC 9113 §4.2)`, scope: 'connection' }),
    }, rules.fromServer);
    this.requestBlocks = new HeaderBlockReader(this.goBlind);
    this.responseBlocks = new HeaderBlockReader(this.goBlind);
    const continuation = context.tracking.traceContinuation;
    this.reparenting = continuation === undefined ? undefined : new RequestReparenting(continuation, this.toUpstream);
    this.held = new HeldRequests(this.heldRequestsHost(), context.tracking);
    this.answers = new ClientAnswers(this.toClient, this.calls);
    this.settingsParties = { toClient: this.toClient, toRuntime: this.toUpstream, requestBlocks: this.requestBlocks, responseBlocks: this.responseBlocks, held: this.held };
    this.prefaceTimer = setTimeout(() => {
      if (this.state === 'preface') this.rejectClient(ErrorCode.PROTOCOL_ERROR, 'criscope: no HTTP/2 preface within 10 s');
    }, PREFACE_TIMEOUT_MS);
    client.on('data', this.onClientData);
    client.on('drain', () => this.upstream?.resume());
    client.on('error', () => undefined);
    client.on('close', this.onClientClose);
  }

  /** Calls still waiting for their answer; a connection criscope cannot follow counts as busy until it closes. */
  get activeCalls(): number {
    return this.blind ? Math.max(1, this.calls.size) : this.calls.size;
  }

  /** The calls this connection is following, for reading only. */
  callsInFlight(): IterableIterator<TrackedCall> {
    return this.calls.values();
  }

  /**
   * Starts a graceful stop: the client is told to open no new streams here,
   * and server-streaming calls end now with UNAVAILABLE so their clients
   * reconnect. Unary calls in flight go on; the connection closes after the
   * last one, or when `close()` cuts it.
   */
  drain(reason: string): void {
    if (this.state === 'closed' || this.limits.draining) return;
    if (this.state === 'preface') {
      this.close();
      return;
    }
    this.toClient.inject(goawayFrame(this.limits.drain(), ErrorCode.NO_ERROR, reason));
    for (const [streamId, call] of this.calls.entries()) {
      if (call.serverStreaming) {
        // Reset at the runtime first: the answer ends the call, and nothing of it may reach the runtime after.
        this.held.resetAtRuntimeSide(streamId, ErrorCode.CANCEL);
        this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
      }
    }
    this.closeIfIdle();
  }

  /** Ends both connections now; calls still in flight are answered UNAVAILABLE first when possible. */
  close(reason = 'criscope is shutting down'): void {
    if (this.state === 'closed') return;
    if (this.toClient.insideHeaderBlock) return this.destroy();
    for (const [streamId, call] of this.calls.entries()) this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    this.state = 'closed';
    this.client.end();
    this.upstream?.destroy();
  }

  /** Drops both sockets at once (a client that does not hang up after GOAWAY). */
  destroy(): void {
    this.state = 'closed';
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** What the held requests need of this connection. */
  private heldRequestsHost(): HeldRequestsHost {
    return {
      relaying: () => this.state === 'relaying',
      runtimeMaxFrameSize: () => this.toUpstream.maxFrameSize,
      toRuntime: (frame) => this.toUpstream.inject(frame),
      toClient: (frame, stillDue) => this.toClientAfterSettings(frame, stillDue),
      answer: (streamId, call, status, message, resetClientSide) =>
        this.answers.onceRuntimeSpoke(() => {
          if (this.state !== 'relaying' || this.calls.get(streamId) !== call) return;
          this.answer(streamId, call, status, message);
          // The runtime never saw the message, so it sends nothing more on this stream but credit.
          this.answers.streamEnded(streamId);
          if (resetClientSide) this.toClient.inject(rstStreamFrame(streamId, ErrorCode.NO_ERROR));
        }),
      rejectClient: (code, reason) => this.rejectClient(code, reason),
      call: (streamId) => this.calls.get(streamId),
      resetCall: (streamId, code) => this.calls.reset(streamId, code),
    };
  }

  private readonly onClientData = (chunk: Buffer): void => {
    if (this.state === 'preface') {
      this.preface = Buffer.concat([this.preface, chunk]);
      const seen = Math.min(this.preface.length, CLIENT_PREFACE.length);
      if (!this.preface.subarray(0, seen).equals(CLIENT_PREFACE.subarray(0, seen))) {
        this.rejectClient(ErrorCode.PROTOCOL_ERROR, 'criscope: expected gRPC (HTTP/2 with prior knowledge)');
        return;
      }
      if (this.preface.length < CLIENT_PREFACE.length) return;
      clearTimeout(this.prefaceTimer);
      this.state = 'relaying';
      this.connectUpstream();
      chunk = this.preface.subarray(CLIENT_PREFACE.length);
    }
    if (this.state === 'closed' || chunk.length === 0) return;
    if (!this.toUpstream.push(chunk)) this.client.pause();
  };

  /** Ends a client connection criscope cannot relay, with a GOAWAY that says why. */
  private rejectClient(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.context.log.debug({ reason }, 'client connection rejected');
    clearTimeout(this.prefaceTimer);
    this.state = 'closed';
    this.upstream?.destroy();
    this.client.end(goawayFrame(this.limits.lastStreamIdForClient(), code, reason));
  }

  /**
   * The client broke RFC 9113 (see frame-rules), and the frame went no further:
   * a connection error ends both connections, GOAWAY to the client; a stream
   * error resets the stream on both sides.
   */
  private readonly onClientViolation = (violation: Violation, streamId: number): void => {
    if (violation.scope === 'connection') {
      // A server's first frame is its SETTINGS (§3.4), even when its next is GOAWAY; nothing of the runtime's has gone out yet.
      if (this.state === 'relaying' && !this.answers.runtimeHasSpoken) this.client.write(settingsFrame(false));
      return this.rejectClient(violation.code, `criscope: ${violation.reason}`);
    }
    if (this.state === 'closed') return;
    this.context.log.debug({ reason: violation.reason, streamId }, 'client stream reset');
    if (this.limits.relays(streamId)) this.held.resetAtRuntimeSide(streamId, violation.code);
    else this.held.streamReset(streamId);
    const reset = (): void => this.toClient.inject(rstStreamFrame(streamId, violation.code));
    if (this.state === 'relaying') this.answers.onceRuntimeSpoke(reset);
    else reset();
    this.calls.reset(streamId, violation.code);
  };

  /**
   * The runtime broke RFC 9113 (see frame-rules): the frame never reaches the
   * client, the runtime is sent GOAWAY with the error and left, and the client
   * is served as when the runtime goes away.
   */
  private readonly rejectRuntime = (violation: Violation): void => {
    const upstream = this.upstream;
    if (this.state !== 'relaying' || upstream === undefined) return;
    this.context.log.warn({ reason: violation.reason }, 'the runtime broke HTTP/2; leaving its connection');
    // Inside a header block of the client's, a GOAWAY would be one more protocol error.
    if (this.toUpstream.insideHeaderBlock) upstream.destroy();
    else upstream.end(goawayFrame(0, violation.code, `criscope: ${violation.reason}`), () => upstream.destroy());
    this.failUpstream(`criscope: the runtime broke HTTP/2: ${violation.reason}`);
  };

  private connectUpstream(): void {
    const upstream = connect(this.context.upstreamPath);
    this.upstream = upstream;
    this.toUpstream.setSink(upstream);
    upstream.write(CLIENT_PREFACE);
    upstream.on('connect', () => {
      this.upstreamConnected = true;
      this.context.reachability.connected(this.context.endpoint);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.state === 'closed') return;
      if (!this.toClient.push(chunk)) upstream.pause();
    });
    upstream.on('drain', () => this.client.resume());
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      this.upstreamError ??= error.code ?? error.message;
    });
    upstream.on('close', this.onUpstreamClose);
  }

  private readonly onUpstreamClose = (): void => {
    if (this.state === 'closed' || this.state === 'unavailable') return;
    const why = this.upstreamError;
    const closed = `the runtime closed the connection${why === undefined ? '' : `: ${why}`}`;
    this.context.reachability.unreachable(this.context.endpoint, this.upstreamConnected ? closed : (why ?? 'connection closed'));
    this.failUpstream(this.upstreamConnected ? `criscope: ${closed}` : `criscope: cannot reach the runtime at ${this.context.endpoint}: ${why ?? 'connection closed'}`);
  };

  /**
   * The runtime is gone: criscope answers every call in flight, and any the
   * client sends meanwhile, with UNAVAILABLE, then sends GOAWAY and closes, so
   * the client reconnects (and reaches the runtime again once it is back).
   */
  private failUpstream(reason: string): void {
    if (this.toClient.insideHeaderBlock) {
      // Half a header block went out and its end never will: the connection is beyond repair.
      this.destroy();
      return;
    }
    this.state = 'unavailable';
    this.unavailableReason = reason;
    this.toUpstream.setSink(undefined);
    this.client.resume();
    if (!this.answers.runtimeHasSpoken) {
      // The client never heard from a server: criscope speaks for this connection's short life.
      this.toClient.inject(settingsFrame(false));
      if (this.clientSentSettings) this.toClient.inject(settingsFrame(true));
    }
    for (const [streamId, call] of this.calls.entries()) this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    // A client that already spoke with the runtime just needs GOAWAY to reconnect; a new one gets time to send its calls.
    this.scheduleUnavailableClose(this.answers.runtimeHasSpoken ? UNAVAILABLE_LINGER_MS : UNAVAILABLE_FIRST_CALL_WAIT_MS);
  }

  /**
   * Closes an unavailable connection once the client has had time to send its
   * calls (each is answered as it comes): closing before a call arrives would
   * make the client see a refused stream instead of criscope's reason.
   */
  private scheduleUnavailableClose(delayMs: number): void {
    clearTimeout(this.unavailableCloseTimer);
    this.unavailableCloseTimer = setTimeout(() => {
      if (this.state !== 'unavailable') return;
      this.state = 'closed';
      this.client.end(goawayFrame(this.limits.lastStreamIdForClient(), ErrorCode.NO_ERROR, this.unavailableReason));
    }, delayMs);
  }

  private readonly onClientClose = (): void => {
    this.state = 'closed';
    clearTimeout(this.prefaceTimer);
    clearTimeout(this.unavailableCloseTimer);
    this.upstream?.destroy();
    // Calls still open ended with the client going away.
    for (const [streamId] of this.calls.entries()) this.calls.reset(streamId, ErrorCode.CANCEL);
    this.context.onClosed(this);
  };

  private readonly onCallEnded = (call: TrackedCall): void => {
    this.held.callEnded(call);
    this.context.onCallEnded();
    this.closeIfIdle();
  };

  /** The connection can no longer be followed: relay it untouched from here on, without records. */
  private readonly goBlind = (reason: string): void => {
    if (this.blind) return;
    this.blind = true;
    this.requestBlocks.stop();
    this.responseBlocks.stop();
    if (this.reparenting?.reencodes === true || this.context.tracking.gate !== undefined) {
      // Request blocks can no longer be re-encoded, or calls judged before they go on: the client must reconnect.
      this.context.log.warn({ reason }, 'cannot follow a connection whose requests are re-encoded or judged; closing it');
      this.close('criscope: cannot follow this connection; reconnect');
      return;
    }
    this.calls.forgetAll();
    this.context.log.warn({ reason }, 'cannot follow a client connection; relaying it without call records');
  };

  /** Frames from the client (kubelet) toward the runtime. */
  private readonly onClientFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    // A CONTINUATION goes wherever the HEADERS it continues went.
    const refused = type === FrameType.CONTINUATION ? this.requestBlockRefused : streamId !== 0 && !this.limits.relays(streamId);
    if (type === FrameType.HEADERS) this.requestBlockRefused = refused;
    if (refused) return this.refuseClientFrame(type, streamId, flags, frame);
    switch (type) {
      case FrameType.HEADERS:
        this.limits.clientOpened(streamId);
        if (this.withheldRequestBlock && this.reparenting?.reencodes !== true) {
          // The runtime's HPACK table is missing a block: this one would decode wrongly there.
          this.destroy();
          return FrameVerdict.Drop;
        }
        this.onRequestBlock(this.requestBlocks.start(streamId, flags, frame, type));
        return this.requestBlockFrameFate(flags, frame);
      case FrameType.CONTINUATION:
        this.onRequestBlock(this.requestBlocks.continue(flags, frame));
        return this.requestBlockFrameFate(flags, frame);
      case FrameType.DATA:
        if (this.state === 'unavailable') return this.refuseClientFrame(type, streamId, flags, frame);
        return this.blind ? FrameVerdict.Forward : this.held.clientData(streamId, flags, frame, this.calls.get(streamId));
      case FrameType.RST_STREAM: {
        // Forgotten before the call ends, so the call's end does not reset the stream at the runtime a second time.
        const runtimeStillOpen = this.held.clientReset(streamId);
        this.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        this.answers.streamEnded(streamId);
        return runtimeStillOpen ? FrameVerdict.Forward : FrameVerdict.Drop;
      }
      case FrameType.SETTINGS:
        clientSettings(this.settingsParties, flags, frame);
        if ((flags & Flag.ACK) === 0) {
          this.clientSentSettings = true;
          // Nobody else will acknowledge it: the runtime is gone.
          if (this.state === 'unavailable') this.toClient.inject(settingsFrame(true));
        }
        return FrameVerdict.Forward;
      case FrameType.PING:
        if (this.state === 'unavailable' && (flags & Flag.ACK) === 0) this.toClient.inject(pingAckFrame(frame.subarray(FRAME_HEADER_LENGTH)));
        return FrameVerdict.Forward;
      default:
        return FrameVerdict.Forward;
    }
  };

  /** Frames from the runtime toward the client. */
  private readonly onRuntimeFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    // What criscope owes the client is written after this frame (injected frames wait for the one being relayed).
    this.answers.runtimeSpeaks();
    switch (type) {
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        // Always relayed, even on a stream criscope answered: the client must see every header block to keep its HPACK state.
        this.onResponseBlock(this.responseBlocks.start(streamId, flags, frame, type));
        return FrameVerdict.Forward;
      case FrameType.CONTINUATION:
        this.onResponseBlock(this.responseBlocks.continue(flags, frame));
        return FrameVerdict.Forward;
      case FrameType.DATA:
        if (this.answers.answeredStream(streamId)) {
          if ((flags & Flag.END_STREAM) !== 0) this.answers.streamEnded(streamId);
          // Its connection credit is the runtime's again.
          const length = frame.length - FRAME_HEADER_LENGTH;
          if (length > 0) this.toUpstream.inject(windowUpdateFrame(0, length));
          return FrameVerdict.Drop;
        }
        this.onResponseData(streamId, flags, frame);
        return FrameVerdict.Forward;
      case FrameType.RST_STREAM:
        this.held.streamReset(streamId);
        if (this.answers.streamEnded(streamId)) return FrameVerdict.Drop;
        this.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        return FrameVerdict.Forward;
      case FrameType.SETTINGS:
        runtimeSettings(this.settingsParties, flags, frame);
        return FrameVerdict.Forward;
      case FrameType.GOAWAY:
        this.onRuntimeGoaway(frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff);
        return FrameVerdict.Forward;
      case FrameType.WINDOW_UPDATE:
        return this.blind ? FrameVerdict.Forward : this.held.runtimeWindowUpdate(streamId, frame);
      default:
        return FrameVerdict.Forward;
    }
  };

  /** A request header block frame goes on as it came, unless tracing holds it for re-encoding. */
  private requestBlockFrameFate(flags: number, frame: Buffer): FrameVerdict {
    const reparenting = this.reparenting;
    if (reparenting === undefined) return FrameVerdict.Forward;
    if (this.state !== 'relaying') {
      reparenting.forget();
      return FrameVerdict.Forward;
    }
    const fate = reparenting.frameFate(flags, frame, !this.blind);
    if (fate !== 'cut') return fate;
    this.destroy();
    return FrameVerdict.Drop;
  }

  private onResponseData(streamId: number, flags: number, frame: Buffer): void {
    const call = this.calls.get(streamId);
    if (call === undefined) return;
    call.responseScanner.push(framePayload(frame, FrameType.DATA, flags));
    if ((flags & Flag.END_STREAM) !== 0) this.calls.responseEnded(streamId);
  }

  /** Streams above the runtime's GOAWAY were never processed: the client retries them elsewhere. */
  private onRuntimeGoaway(lastStreamId: number): void {
    this.limits.runtimeGoaway(lastStreamId);
    this.held.runtimeGoaway(lastStreamId);
    for (const [streamId] of this.calls.entries()) {
      if (streamId > lastStreamId) this.calls.reset(streamId, ErrorCode.REFUSED_STREAM);
    }
  }

  /**
   * A frame that must not reach the runtime (a stream refused by criscope's
   * GOAWAY, or any stream once the runtime is gone). Its header blocks are
   * still decoded, to stay in step with the client's encoder; DATA is credited
   * back so the client's connection window does not shrink for nothing.
   */
  private refuseClientFrame(type: number, streamId: number, flags: number, frame: Buffer): FrameVerdict {
    if (type === FrameType.HEADERS) {
      this.limits.clientOpened(streamId);
      if (this.state !== 'unavailable') this.withheldRequestBlock = true;
      this.onRequestBlock(this.requestBlocks.start(streamId, flags, frame, type));
    } else if (type === FrameType.CONTINUATION) {
      this.onRequestBlock(this.requestBlocks.continue(flags, frame));
    } else if (type === FrameType.DATA) {
      const length = frame.length - FRAME_HEADER_LENGTH;
      if (!this.blind) this.held.clientDataDropped(length);
      else if (length > 0) this.toClient.inject(windowUpdateFrame(0, length));
    }
    return FrameVerdict.Drop;
  }

  private onRequestBlock(block: HeaderBlock | undefined): void {
    if (block === undefined || !this.limits.relays(block.streamId)) return;
    const call = this.calls.requestHeaders(block.streamId, block.fields);
    if (call === undefined && this.held.waitsOn(block.streamId)) {
      // Request trailers would overtake the held message: no gRPC client sends them, so this one is cut off.
      this.close('criscope: request trailers on a call being judged');
      return;
    }
    const gate = this.context.tracking.gate;
    if (call !== undefined && gate !== undefined && this.state === 'relaying') {
      const refusal = gate.refuses(call.path);
      if (refusal !== undefined) this.held.refuse(block.streamId, call, refusal, block.endStream);
      else if (call.judgedAs !== undefined && !block.endStream && gate.holds(call.judgedAs)) call.held = this.held.hold(block.streamId);
    }
    if (this.state === 'relaying' && this.reparenting !== undefined) {
      try {
        // The decoder's record of never-indexed fields is of this block: it was decoded just before.
        this.reparenting.reparent(block, call, this.requestBlocks.decoder.neverIndexedFields);
      } catch (error) {
        // Never half a block: without a replacement, the held frames go on as they came (or the connection ends).
        this.reparenting.keepOriginal();
        this.context.log.error({ err: error }, 'could not re-parent a request');
      }
    }
    if (this.state === 'unavailable') {
      const unanswered = this.calls.get(block.streamId);
      if (unanswered !== undefined) this.answer(block.streamId, unanswered, GrpcStatus.UNAVAILABLE, this.unavailableReason);
      this.scheduleUnavailableClose(UNAVAILABLE_LINGER_MS);
    }
  }

  private onResponseBlock(block: HeaderBlock | undefined): void {
    if (block === undefined || block.promise) return;
    if (this.answers.answeredStream(block.streamId)) {
      if (block.endStream) this.answers.streamEnded(block.streamId);
      return;
    }
    this.calls.responseHeaders(block.streamId, block.fields, block.endStream);
  }

  /**
   * Writes a frame of criscope's own to the client now, or once the runtime's
   * SETTINGS has gone to it (a server's first frame must be its SETTINGS), if
   * `stillDue()` then.
   */
  private toClientAfterSettings(frame: Buffer, stillDue: () => boolean): void {
    if (this.answers.runtimeHasSpoken || this.state === 'unavailable') this.toClient.inject(frame);
    else
      this.answers.onceRuntimeSpoke(() => {
        if (this.state === 'relaying' && stillDue()) this.toClient.inject(frame);
      });
  }

  /** Ends a call toward the client with criscope's own status. */
  private answer(streamId: number, call: TrackedCall, status: number, message: string): void {
    // The runtime's own headers for this stream may be on their way out still (a block not yet ended).
    this.answers.answer(streamId, status, message, call.responseHeadersSeen || this.responseBlocks.openCallStreamId === streamId);
  }

  /** After criscope's GOAWAY, the connection ends once its last call has. */
  private closeIfIdle(): void {
    if (this.limits.draining && this.activeCalls === 0 && this.state === 'relaying') setImmediate(() => this.close());
  }
}
