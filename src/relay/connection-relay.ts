import { connect, type Socket } from 'node:net';
import { decompressed } from '../cri/decode-call.js';
import { GrpcStatus } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { CallTracker, headerIndex, headerValue, type TrackedCall, type TrackingContext } from './call-tracker.js';
import type { GateVerdict } from './request-gate.js';
import { FramePump, FrameVerdict } from './frame-pump.js';
import { ConnectionFrameRules } from './frame-rule-state.js';
import type { Violation } from './frame-rules.js';
import { encodeGrpcMessage } from './grpc-message.js';
import { HeldRequest } from './held-request.js';
import { HpackDecoder } from './hpack/decoder.js';
import { KeepBudget } from './keep-budget.js';
import { ClientDataFate, RequestFlow } from './request-flow.js';
import { encodeHeaderBlock, encodeHeaderList } from './hpack/encoder.js';
import {
  CLIENT_PREFACE,
  ErrorCode,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  Setting,
  dataFrames,
  forEachSetting,
  framePayload,
  goawayFrame,
  headerBlockFrames,
  headersFrame,
  pingAckFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './http2-frames.js';

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

/** A header block being collected across HEADERS (or PUSH_PROMISE) and CONTINUATION frames. */
interface OpenHeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
  /** Bytes and frames so far, whole frames counted: a flood of empty CONTINUATIONs is bounded too. */
  size: number;
  frames: number;
  /** A PUSH_PROMISE block: decoded only to keep HPACK state, never a call. */
  readonly promise: boolean;
}

type State = 'preface' | 'relaying' | 'unavailable' | 'closed';

/** How long an unavailable connection waits for the client's first call, and lingers after each answer. */
const UNAVAILABLE_FIRST_CALL_WAIT_MS = 2000;
const UNAVAILABLE_LINGER_MS = 100;
/** A connection that has not sent the HTTP/2 preface by then is not a gRPC client: it is closed. */
const PREFACE_TIMEOUT_MS = 10_000;
/** A header block larger than this is relayed without being read (kubelet's are a few hundred bytes). */
const MAX_HEADER_BLOCK_BYTES = 1024 * 1024;
const MAX_HEADER_BLOCK_FRAMES = 256;
const NO_GOAWAY = 0x7fffffff;
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
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const GRPC_PREFIX_LENGTH = 5;
/** An HPACK dynamic table size update to 0, which starts every re-encoded request block. */
const CLEAR_DYNAMIC_TABLE = Buffer.from([0x20]);

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
  /** True once the runtime's first frame (its SETTINGS) has reached the client. */
  private runtimeSpoke = false;
  /** Answers criscope owes the client before the runtime's SETTINGS went out: the server's first frame must be its SETTINGS. */
  private afterRuntimeSettings: (() => void)[] = [];
  private upstreamError: string | undefined;
  private readonly calls: CallTracker;
  private readonly toUpstream: FramePump;
  private readonly toClient: FramePump;
  private readonly requestDecoder = new HpackDecoder();
  private readonly responseDecoder = new HpackDecoder();
  private requestBlock: OpenHeaderBlock | undefined;
  private responseBlock: OpenHeaderBlock | undefined;
  /** True once the connection can no longer be read: frames still pass, calls are no longer recorded. */
  private blind = false;
  private clientSentSettings = false;
  private lastClientStreamId = 0;
  /** The lowest last-stream-id any GOAWAY to the client has carried (criscope's or the runtime's). */
  private clientGoawayLimit = NO_GOAWAY;
  /** Set once criscope has sent GOAWAY: streams above it are not relayed. */
  private goawayLastStreamId: number | undefined;
  /** Whether the request header block being received was withheld from the runtime. */
  private requestBlockRefused = false;
  /** True once a request header block was withheld from the runtime: its HPACK table is behind. */
  private withheldRequestBlock = false;
  /** Set once a request block was re-encoded: every later one must be too (see the class comment). */
  private reencodeRequests = false;
  /** Copies of the frames of a request block still open, held while tracing may need to re-encode it. */
  private heldRequestFrames: Buffer[] = [];
  /** The frames to send instead of the request block that just ended, when it was re-encoded. */
  private requestBlockReplacement: Buffer | undefined;
  /** Streams criscope has answered itself; what the runtime still sends on them is dropped where it can be. */
  private readonly answeredStreams = new Set<number>();
  private unavailableCloseTimer: NodeJS.Timeout | undefined;
  private unavailableReason = '';
  /** The request direction's flow-control windows; criscope is the endpoint for the streams it holds. */
  private readonly requestFlow = new RequestFlow();
  /** The streams criscope holds or rewrites, with the request bytes it has yet to send. */
  private readonly heldStreams = new Map<number, HeldRequest>();
  /** Held bytes of requests not yet whole (neither judged nor going on). */
  private unjudgedBytes = 0;
  /** Pass-through DATA frames waiting, in order, for runtime credit a lengthened request spent. */
  private waitingData: Buffer[] = [];

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
    if (this.state === 'closed' || this.goawayLastStreamId !== undefined) return;
    if (this.state === 'preface') {
      this.close();
      return;
    }
    this.goawayLastStreamId = this.goawayStreamId();
    this.clientGoawayLimit = this.goawayLastStreamId;
    this.toClient.inject(goawayFrame(this.goawayLastStreamId, ErrorCode.NO_ERROR, reason));
    for (const [streamId, call] of this.calls.entries()) {
      if (call.serverStreaming) {
        this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
        this.toUpstream.inject(rstStreamFrame(streamId, ErrorCode.CANCEL));
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
    this.client.end(goawayFrame(this.goawayStreamId(), code, reason));
  }

  /**
   * The client broke RFC 9113 (see frame-rules), and the frame went no further:
   * a connection error ends both connections, GOAWAY to the client; a stream
   * error resets the stream on both sides.
   */
  private readonly onClientViolation = (violation: Violation, streamId: number): void => {
    if (violation.scope === 'connection') {
      // A server's first frame is its SETTINGS (§3.4), even when its next is GOAWAY; nothing of the runtime's has gone out yet.
      if (this.state === 'relaying' && !this.runtimeSpoke) this.client.write(settingsFrame(false));
      return this.rejectClient(violation.code, `criscope: ${violation.reason}`);
    }
    if (this.state === 'closed') return;
    this.context.log.debug({ reason: violation.reason, streamId }, 'client stream reset');
    if (this.state === 'relaying' && this.relaysStream(streamId)) this.toUpstream.inject(rstStreamFrame(streamId, violation.code));
    const reset = (): void => this.toClient.inject(rstStreamFrame(streamId, violation.code));
    if (this.state === 'relaying') this.onceRuntimeSpoke(reset);
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

  /** The last-stream-id for a GOAWAY to the client: never above one it has already been sent. */
  private goawayStreamId(): number {
    return Math.min(this.lastClientStreamId, this.clientGoawayLimit);
  }

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
    const reason = this.upstreamConnected
      ? `criscope: the runtime closed the connection${why === undefined ? '' : `: ${why}`}`
      : `criscope: cannot reach the runtime at ${this.context.endpoint}: ${why ?? 'connection closed'}`;
    this.context.reachability.unreachable(this.context.endpoint, this.upstreamConnected ? `the runtime closed the connection${why === undefined ? '' : `: ${why}`}` : (why ?? 'connection closed'));
    this.failUpstream(reason);
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
    if (!this.runtimeSpoke) {
      // The client never heard from a server: criscope speaks for this connection's short life.
      this.toClient.inject(settingsFrame(false));
      if (this.clientSentSettings) this.toClient.inject(settingsFrame(true));
    }
    for (const [streamId, call] of this.calls.entries()) this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    // A client that already spoke with the runtime just needs GOAWAY to reconnect; a new one gets time to send its calls.
    this.scheduleUnavailableClose(this.runtimeSpoke ? UNAVAILABLE_LINGER_MS : UNAVAILABLE_FIRST_CALL_WAIT_MS);
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
      this.client.end(goawayFrame(this.goawayStreamId(), ErrorCode.NO_ERROR, this.unavailableReason));
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
    const held = call.held;
    // Ended before its request was whole (answered early): what was held never goes on.
    if (held !== undefined && held.waitsUnjudged) {
      for (const [streamId, candidate] of this.heldStreams) {
        if (candidate === held) {
          this.abandonHeld(streamId);
          break;
        }
      }
    }
    this.context.onCallEnded();
    this.closeIfIdle();
  };

  /** The connection can no longer be followed: relay it untouched from here on, without records. */
  private readonly goBlind = (reason: string): void => {
    if (this.blind) return;
    this.blind = true;
    if (this.reencodeRequests || this.context.tracking.gate !== undefined) {
      // Request blocks can no longer be re-encoded, or calls judged before they go on: the client must reconnect.
      this.context.log.warn({ reason }, 'cannot follow a connection whose requests are re-encoded or judged; closing it');
      this.close('criscope: cannot follow this connection; reconnect');
      return;
    }
    this.requestBlock = undefined;
    this.responseBlock = undefined;
    this.calls.forgetAll();
    this.context.log.warn({ reason }, 'cannot follow a client connection; relaying it without call records');
  };

  /** Frames from the client (kubelet) toward the runtime. */
  private readonly onClientFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    // A CONTINUATION goes wherever the HEADERS it continues went.
    const refused = type === FrameType.CONTINUATION ? this.requestBlockRefused : streamId !== 0 && !this.relaysStream(streamId);
    if (type === FrameType.HEADERS) this.requestBlockRefused = refused;
    if (refused) return this.refuseClientFrame(type, frame);
    switch (type) {
      case FrameType.HEADERS:
        this.lastClientStreamId = Math.max(this.lastClientStreamId, streamId);
        if (this.withheldRequestBlock && !this.reencodeRequests) {
          // The runtime's HPACK table is missing a block: this one would decode wrongly there.
          this.destroy();
          return FrameVerdict.Drop;
        }
        this.openRequestBlock(streamId, flags, frame, type);
        return this.requestBlockVerdict(flags, frame);
      case FrameType.CONTINUATION:
        this.continueBlock(this.requestBlock, flags, frame, type, this.endRequestBlock);
        return this.requestBlockVerdict(flags, frame);
      case FrameType.DATA: {
        if (this.state === 'unavailable') return this.refuseClientFrame(type, frame);
        if (this.blind) return FrameVerdict.Forward;
        const content = framePayload(frame, type, flags);
        const fate = this.requestFlow.clientData(streamId, frame.length - FRAME_HEADER_LENGTH, content.length);
        if (fate === ClientDataFate.ConnectionOverrun || fate === ClientDataFate.StreamOverrun) return this.clientOverran(streamId, fate);
        const call = this.calls.get(streamId);
        call?.requestScanner.push(content);
        if (fate === ClientDataFate.Forward) return FrameVerdict.Forward;
        if (fate === ClientDataFate.Queue) {
          this.waitingData.push(Buffer.from(frame));
          return FrameVerdict.Drop;
        }
        const held = this.heldStreams.get(streamId);
        if (held !== undefined) this.holdRequestData(streamId, call, held, frame.length - FRAME_HEADER_LENGTH, content, (flags & Flag.END_STREAM) !== 0);
        return FrameVerdict.Drop;
      }
      case FrameType.RST_STREAM:
        // Forgotten before the call ends, so the call's end does not reset the stream at the runtime a second time.
        this.disownStream(streamId);
        this.dropWaitingData(streamId);
        this.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        this.answeredStreams.delete(streamId);
        return FrameVerdict.Forward;
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) !== 0) {
          // The client applied the runtime's oldest SETTINGS it had not acknowledged: it sends by them from here,
          // and a lowered table size binds its encoder.
          this.requestFlow.clientAckedSettings();
          this.requestDecoder.tableSizeLimit.acknowledged();
        } else {
          this.clientSentSettings = true;
          let headerTableSize: number | undefined;
          forEachSetting(frame, (id, value) => {
            // The client's limits bind what the runtime sends it.
            if (id === Setting.MAX_FRAME_SIZE) this.toClient.maxFrameSize = value;
            else if (id === Setting.HEADER_TABLE_SIZE) headerTableSize = value;
          });
          this.responseDecoder.tableSizeLimit.sent(headerTableSize);
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
    if (!this.runtimeSpoke) {
      this.runtimeSpoke = true;
      // Written after this frame (injected frames wait for the one being relayed).
      for (const owed of this.afterRuntimeSettings) owed();
      this.afterRuntimeSettings = [];
    }
    switch (type) {
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        // Always relayed, even on a stream criscope answered: the client must see every header block to keep its HPACK state.
        this.responseBlock = this.openBlock(streamId, flags, frame, type);
        if ((flags & Flag.END_HEADERS) !== 0) this.endResponseBlock();
        return FrameVerdict.Forward;
      case FrameType.CONTINUATION:
        this.continueBlock(this.responseBlock, flags, frame, type, this.endResponseBlock);
        return FrameVerdict.Forward;
      case FrameType.DATA:
        if (this.answeredStreams.has(streamId)) {
          if ((flags & Flag.END_STREAM) !== 0) this.answeredStreams.delete(streamId);
          this.creditRuntimeForDropped(frame);
          return FrameVerdict.Drop;
        }
        this.onResponseData(streamId, flags, frame);
        return FrameVerdict.Forward;
      case FrameType.RST_STREAM:
        this.disownStream(streamId);
        this.dropWaitingData(streamId);
        if (this.answeredStreams.delete(streamId)) return FrameVerdict.Drop;
        this.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        return FrameVerdict.Forward;
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) === 0) {
          let headerTableSize: number | undefined;
          let initialWindow: number | undefined;
          forEachSetting(frame, (id, value) => {
            // The runtime's limits bind what the client sends it.
            if (id === Setting.MAX_FRAME_SIZE) this.toUpstream.maxFrameSize = value;
            else if (id === Setting.HEADER_TABLE_SIZE) headerTableSize = value;
            else if (id === SETTINGS_INITIAL_WINDOW_SIZE) initialWindow = value;
          });
          this.requestDecoder.tableSizeLimit.sent(headerTableSize);
          this.requestFlow.runtimeSettings(initialWindow);
          if (initialWindow !== undefined) this.sendWaiting();
        } else {
          this.responseDecoder.tableSizeLimit.acknowledged();
        }
        return FrameVerdict.Forward;
      case FrameType.GOAWAY:
        this.onRuntimeGoaway(frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff);
        return FrameVerdict.Forward;
      case FrameType.WINDOW_UPDATE:
        return this.blind ? FrameVerdict.Forward : this.onRuntimeWindowUpdate(streamId, frame);
      default:
        return FrameVerdict.Forward;
    }
  };

  /**
   * Runtime credit pays first for what criscope has to send on held streams;
   * the client gets the rest, so it never sends more than can go on.
   */
  private onRuntimeWindowUpdate(streamId: number, frame: Buffer): FrameVerdict {
    const increment = frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff;
    const passOn = this.requestFlow.runtimeWindowUpdate(streamId, increment);
    if (streamId === 0) this.sendWaiting();
    else this.sendHeld(streamId);
    if (passOn === increment) return FrameVerdict.Forward;
    if (passOn > 0) this.toClient.inject(windowUpdateFrame(streamId, passOn));
    return FrameVerdict.Drop;
  }

  /**
   * DATA of a stream criscope holds: kept until the first message is whole,
   * then judged; what follows while it is judged waits too. Past the unjudged
   * allowance the head goes on, and the verdict still comes once it is whole.
   */
  private holdRequestData(streamId: number, call: TrackedCall | undefined, held: HeldRequest, length: number, content: Buffer, endStream: boolean): void {
    const whole = endStream || call?.requestScanner.firstMessageEnded === true;
    if (held.waitsUnjudged && !whole && this.unjudgedBytes + content.length > MAX_UNJUDGED_BYTES) {
      this.unjudgedBytes -= held.bytes;
      held.headWentOn = true;
    }
    held.append(content, endStream);
    if (held.waitsUnjudged) this.unjudgedBytes += content.length;
    if (this.requestFlow.pending > MAX_HELD_BYTES) {
      this.refuseHeld(streamId, call, held, GrpcStatus.RESOURCE_EXHAUSTED, `criscope: more than ${MAX_HELD_BYTES} bytes of requests are held on this connection`);
      return;
    }
    // Held to be judged, the bytes are credited at once: the whole message must arrive, whatever the runtime's stream window.
    // Going on, only padding is: the runtime's credit for the rest reaches the client as it comes.
    if (!endStream) this.creditClientStream(streamId, held.mayGoOn ? length - content.length : length, !held.mayGoOn);
    // Padding is not sent on: its connection credit is the client's again.
    this.giveClientCredit();
    if (whole && !held.judging && !held.released && call !== undefined) {
      if (held.waitsUnjudged) this.unjudgedBytes -= held.bytes;
      held.judging = true;
      this.judge(streamId, call, held);
    }
    this.sendHeld(streamId);
  }

  /**
   * A call policy refuses by its path. Its stream is held (its DATA never
   * goes on) and the verdict applied once the header block has gone on: the
   * runtime's reset must follow the headers it resets.
   */
  private refuse(streamId: number, call: TrackedCall, verdict: GateVerdict, endStream: boolean): void {
    if (verdict.decision.denial === undefined) {
      call.policy = verdict.decision;
      return;
    }
    const held = this.holdStream(streamId);
    held.judging = true;
    held.endStream = endStream;
    call.held = held;
    queueMicrotask(() => this.applyVerdict(streamId, call, held, verdict, 0));
  }

  /** criscope becomes the flow-control endpoint of a new stream, whose request it holds. */
  private holdStream(streamId: number): HeldRequest {
    const held = new HeldRequest();
    this.heldStreams.set(streamId, held);
    this.requestFlow.own(streamId);
    return held;
  }

  /** The held stream is over: what it still held never goes on, and its connection credit is the client's again. */
  private disownStream(streamId: number): void {
    const held = this.heldStreams.get(streamId);
    if (held === undefined) return;
    if (held.waitsUnjudged) this.unjudgedBytes -= held.bytes;
    this.heldStreams.delete(streamId);
    this.requestFlow.disown(streamId, held.clear());
    this.giveClientCredit();
  }

  /** Sends what a held stream may send now: as much as the runtime's stream and connection credit allow. */
  private sendHeld(streamId: number): void {
    const held = this.heldStreams.get(streamId);
    if (held === undefined || !held.mayGoOn || this.state !== 'relaying') return;
    const bytes = Math.min(held.bytes, this.requestFlow.sendable(streamId));
    const ends = held.endStream && bytes === held.bytes;
    if (bytes === 0 && !ends) return;
    this.toUpstream.inject(dataFrames(streamId, held.take(bytes), ends, this.toUpstream.maxFrameSize));
    this.requestFlow.sent(streamId, bytes);
    if (ends) {
      // The request is all sent: from here the stream's frames pass through.
      this.heldStreams.delete(streamId);
      this.requestFlow.disown(streamId, 0);
    }
  }

  /** After new runtime credit: waiting pass-through DATA first, in order, then held streams. */
  private sendWaiting(): void {
    let sent = 0;
    for (const frame of this.waitingData) {
      const length = frame.length - FRAME_HEADER_LENGTH;
      if (this.state !== 'relaying' || !this.requestFlow.fitsRuntime(length)) break;
      this.toUpstream.inject(frame);
      this.requestFlow.queuedSent(length);
      sent++;
    }
    if (sent > 0) this.waitingData.splice(0, sent);
    for (const streamId of this.heldStreams.keys()) this.sendHeld(streamId);
  }

  /** A reset stream's waiting DATA never goes on: nothing may follow its RST_STREAM. */
  private dropWaitingData(streamId: number): void {
    if (this.waitingData.length === 0) return;
    this.waitingData = this.waitingData.filter((frame) => {
      if ((frame.readUInt32BE(5) & 0x7fffffff) !== streamId) return true;
      this.requestFlow.queuedDropped(frame.length - FRAME_HEADER_LENGTH);
      return false;
    });
    this.giveClientCredit();
  }

  private judge(streamId: number, call: TrackedCall, held: HeldRequest): void {
    const gate = this.context.tracking.gate;
    const method = call.judgedAs;
    if (gate === undefined || method === undefined) {
      // Not reached: a call is held only when both are there. Should it be, the request goes on as it came.
      held.released = true;
      this.sendHeld(streamId);
      return;
    }
    const first = call.requestScanner.first;
    // Not kept for the connection's keep budget: a denial for it is RESOURCE_EXHAUSTED, which may pass once other calls end.
    const overBudget = call.requestScanner.notKept === 'over budget';
    let message: Buffer | undefined;
    let unreadable: string | undefined;
    if (overBudget) {
      unreadable = `the request cannot be judged: this connection's kept-bytes limit (maxKeptBytesPerConnection, ${this.context.tracking.maxKeptBytesPerConnection} bytes) was reached`;
    } else if (first === undefined) {
      unreadable = call.requestScanner.messages === 0 ? 'the request carries no message' : `the request message is larger than ${this.context.tracking.keepMessagesUpTo} bytes`;
    } else {
      try {
        message = decompressed(first, call.requestEncoding, this.context.tracking.keepMessagesUpTo);
      } catch (error) {
        unreadable = `the request message cannot be decompressed: ${(error as Error).message}`;
      }
    }
    gate.judge(method, message, unreadable, !held.headWentOn).then(
      (verdict) => this.applyVerdict(streamId, call, held, verdict, first?.payload.length ?? 0, overBudget ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.PERMISSION_DENIED),
      (error: unknown) => {
        this.context.log.error({ err: error, path: call.path }, 'policy could not judge a call');
        this.applyVerdict(streamId, call, held, undefined, 0);
      },
    );
  }

  /** Connection credit the client is owed (held bytes dropped or sent smaller, DATA dropped). */
  private giveClientCredit(): void {
    const due = this.requestFlow.takeClientCredit();
    if (due > 0) this.toClientAfterSettings(windowUpdateFrame(0, due), () => true);
  }

  /** Stream credit of criscope's own for a held stream whose request is still coming. */
  private creditClientStream(streamId: number, credit: number, ahead: boolean): void {
    const held = this.heldStreams.get(streamId);
    if (held === undefined || held.endStream) return;
    const given = this.requestFlow.creditClientStream(streamId, credit, ahead);
    if (given > 0) this.toClientAfterSettings(windowUpdateFrame(streamId, given), () => this.heldStreams.get(streamId) === held);
  }

  /**
   * Writes a frame of criscope's own to the client now, or once the runtime's
   * SETTINGS has gone to it (a server's first frame must be its SETTINGS), if
   * `stillDue()` then.
   */
  private toClientAfterSettings(frame: Buffer, stillDue: () => boolean): void {
    if (this.runtimeSpoke || this.state === 'unavailable') this.toClient.inject(frame);
    else this.onceRuntimeSpoke(() => {
      if (this.state === 'relaying' && stillDue()) this.toClient.inject(frame);
    });
  }

  /** Runs `write` now, or once the runtime's SETTINGS has gone to the client. */
  private onceRuntimeSpoke(write: () => void): void {
    if (this.runtimeSpoke) write();
    else this.afterRuntimeSettings.push(write);
  }

  /**
   * Carries out the gate's verdict on a held request: it goes on as it came,
   * goes on rewritten, or never reaches the runtime (which is told to forget
   * the stream) while the client gets criscope's answer.
   */
  private applyVerdict(streamId: number, call: TrackedCall, held: HeldRequest, verdict: GateVerdict | undefined, originalLength: number, denialStatus: number = GrpcStatus.PERMISSION_DENIED): void {
    held.released = true;
    if (verdict !== undefined) call.policy = verdict.decision;
    if (this.heldStreams.get(streamId) !== held) return;
    if (this.state !== 'relaying' || this.calls.get(streamId) !== call) {
      // The call ended meanwhile (answered early, or for a runtime that went away): what was held never goes on.
      this.abandonHeld(streamId);
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
      this.requestFlow.resized(streamId, held.replaceFront(GRPC_PREFIX_LENGTH + originalLength, message));
      this.giveClientCredit();
    }
    this.sendHeld(streamId);
  }

  /**
   * A held call that must not reach the runtime: the runtime is told to
   * forget the stream before it has seen the message, and the client gets
   * `status` from criscope.
   */
  private refuseHeld(streamId: number, call: TrackedCall | undefined, held: HeldRequest, status: number, message: string): void {
    this.toUpstream.inject(rstStreamFrame(streamId, ErrorCode.CANCEL));
    this.disownStream(streamId);
    if (call === undefined) return;
    this.onceRuntimeSpoke(() => {
      if (this.state !== 'relaying' || this.calls.get(streamId) !== call) return;
      this.answer(streamId, call, status, message);
      // The runtime never saw the message, so it sends nothing more on this stream but credit.
      this.answeredStreams.delete(streamId);
      if (!held.endStream) this.toClient.inject(rstStreamFrame(streamId, ErrorCode.NO_ERROR));
    });
  }

  /** A held request whose call ended before it went on: the runtime is told to forget the stream. */
  private abandonHeld(streamId: number): void {
    if (this.state === 'relaying') this.toUpstream.inject(rstStreamFrame(streamId, ErrorCode.CANCEL));
    this.disownStream(streamId);
  }

  /**
   * The client sent DATA past its window (RFC 9113 §6.9.1): past the
   * connection's, the connection ends; past a held stream's, that stream.
   */
  private clientOverran(streamId: number, overrun: ClientDataFate): FrameVerdict {
    if (overrun === ClientDataFate.ConnectionOverrun) {
      this.rejectClient(ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
      return FrameVerdict.Drop;
    }
    this.toUpstream.inject(rstStreamFrame(streamId, ErrorCode.CANCEL));
    this.disownStream(streamId);
    this.toClient.inject(rstStreamFrame(streamId, ErrorCode.FLOW_CONTROL_ERROR));
    this.calls.reset(streamId, ErrorCode.FLOW_CONTROL_ERROR);
    return FrameVerdict.Drop;
  }

  /**
   * A request header block goes on as it came, unless tracing is on: then its
   * frames are held until the block ends, and either go on as they came or
   * give way to the re-encoded block.
   */
  private requestBlockVerdict(flags: number, frame: Buffer): FrameVerdict {
    if (this.context.tracking.traceContinuation === undefined) return FrameVerdict.Forward;
    if (this.state !== 'relaying') {
      // Nothing goes on to the runtime any more (criscope answers this connection itself).
      this.heldRequestFrames = [];
      return FrameVerdict.Forward;
    }
    if (this.blind) {
      if (this.heldRequestFrames.length === 0) return FrameVerdict.Forward;
      // Unreadable halfway through a held block: its frames can no longer be released in order, nor held without bound.
      this.destroy();
      return FrameVerdict.Drop;
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      this.heldRequestFrames.push(Buffer.from(frame));
      return FrameVerdict.Drop;
    }
    const held = this.heldRequestFrames;
    const replacement = this.requestBlockReplacement;
    this.heldRequestFrames = [];
    this.requestBlockReplacement = undefined;
    if (replacement !== undefined) {
      this.toUpstream.inject(replacement);
      return FrameVerdict.Drop;
    }
    if (this.reencodeRequests) {
      // The block could not be read, so it cannot be re-encoded, and as it came it would not decode at the runtime.
      this.destroy();
      return FrameVerdict.Drop;
    }
    if (held.length === 0) return FrameVerdict.Forward;
    for (const heldFrame of held) this.toUpstream.inject(heldFrame);
    this.toUpstream.inject(Buffer.from(frame));
    return FrameVerdict.Drop;
  }

  /**
   * Gives the call's span to the runtime as parent (tracing on, and the client
   * sent a traceparent); once that has happened on this connection, every
   * request block is re-encoded, re-parented or not.
   */
  private reparent(block: OpenHeaderBlock, fields: string[], call: TrackedCall | undefined): void {
    const continuation = this.context.tracking.traceContinuation;
    if (continuation === undefined) return;
    const at = call === undefined ? -1 : headerIndex(fields, 'traceparent');
    if (call !== undefined && at >= 0) {
      call.span = continuation.continueTrace(fields[at + 1], headerValue(fields, 'tracestate'));
      const traceparent = call.span?.traceparent;
      if (traceparent !== undefined) {
        // Every copy, should a client send it twice: the runtime must not see the client's span as its parent.
        for (let index = at; index < fields.length; index += 2) if (fields[index] === 'traceparent') fields[index + 1] = traceparent;
        this.reencodeRequests = true;
      }
    }
    if (this.reencodeRequests) {
      // The size update first: whatever table size the client last set, criscope's blocks need none (RFC 7541 §4.2, §6.3).
      // Fields sent never indexed stay so (§6.2.3); the decoder's record is of `fields`, decoded just before this.
      const encoded = Buffer.concat([CLEAR_DYNAMIC_TABLE, encodeHeaderList(fields, this.requestDecoder.neverIndexedFields)]);
      this.requestBlockReplacement = headerBlockFrames(block.streamId, encoded, block.endStream, this.toUpstream.maxFrameSize);
    }
  }

  private onResponseData(streamId: number, flags: number, frame: Buffer): void {
    const call = this.calls.get(streamId);
    if (call === undefined) return;
    call.responseScanner.push(framePayload(frame, FrameType.DATA, flags));
    if ((flags & Flag.END_STREAM) !== 0) this.calls.responseEnded(streamId);
  }

  /** Streams above the runtime's GOAWAY were never processed: the client retries them elsewhere. */
  private onRuntimeGoaway(lastStreamId: number): void {
    this.clientGoawayLimit = Math.min(this.clientGoawayLimit, lastStreamId);
    for (const [streamId] of this.calls.entries()) {
      if (streamId > lastStreamId) this.calls.reset(streamId, ErrorCode.REFUSED_STREAM);
    }
  }

  /** True while frames of `streamId` go on to the runtime (not above criscope's GOAWAY). */
  private relaysStream(streamId: number): boolean {
    return this.goawayLastStreamId === undefined || streamId <= this.goawayLastStreamId;
  }

  /**
   * A frame that must not reach the runtime (a stream refused by criscope's
   * GOAWAY, or any stream once the runtime is gone). Its header blocks are
   * still decoded, to stay in step with the client's encoder; DATA is credited
   * back so the client's connection window does not shrink for nothing.
   */
  private refuseClientFrame(type: number, frame: Buffer): FrameVerdict {
    const flags = frame[4];
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    if (type === FrameType.HEADERS) {
      this.lastClientStreamId = Math.max(this.lastClientStreamId, streamId);
      if (this.state !== 'unavailable') this.withheldRequestBlock = true;
      this.openRequestBlock(streamId, flags, frame, type);
    } else if (type === FrameType.CONTINUATION) {
      this.continueBlock(this.requestBlock, flags, frame, type, this.endRequestBlock);
    } else if (type === FrameType.DATA) {
      this.dropClientData(frame.length - FRAME_HEADER_LENGTH);
    }
    return FrameVerdict.Drop;
  }

  /** Client DATA criscope drops: its connection credit is the client's again. */
  private dropClientData(length: number): void {
    if (this.blind) {
      if (length > 0) this.toClient.inject(windowUpdateFrame(0, length));
      return;
    }
    if (!this.requestFlow.clientDataDropped(length)) {
      this.rejectClient(ErrorCode.FLOW_CONTROL_ERROR, 'criscope: DATA beyond the connection flow-control window');
      return;
    }
    this.giveClientCredit();
  }

  /** Runtime DATA criscope drops (a stream it answered itself): its connection credit is the runtime's again. */
  private creditRuntimeForDropped(frame: Buffer): void {
    const length = frame.length - FRAME_HEADER_LENGTH;
    if (length > 0) this.toUpstream.inject(windowUpdateFrame(0, length));
  }

  private openRequestBlock(streamId: number, flags: number, frame: Buffer, type: number): void {
    this.requestBlock = this.openBlock(streamId, flags, frame, type);
    if ((flags & Flag.END_HEADERS) !== 0) this.endRequestBlock();
  }

  private openBlock(streamId: number, flags: number, frame: Buffer, type: number): OpenHeaderBlock | undefined {
    if (this.blind) return undefined;
    const fragment = framePayload(frame, type, flags);
    return { streamId, endStream: (flags & Flag.END_STREAM) !== 0, fragments: [fragment], size: frame.length, frames: 1, promise: type === FrameType.PUSH_PROMISE };
  }

  private continueBlock(block: OpenHeaderBlock | undefined, flags: number, frame: Buffer, type: number, end: () => void): void {
    if (block === undefined) return;
    block.size += frame.length;
    block.frames += 1;
    if (block.size > MAX_HEADER_BLOCK_BYTES || block.frames > MAX_HEADER_BLOCK_FRAMES) {
      this.goBlind(`a header block over ${MAX_HEADER_BLOCK_BYTES} bytes or ${MAX_HEADER_BLOCK_FRAMES} frames`);
      return;
    }
    const fragment = framePayload(frame, type, flags);
    // A copy, so the block does not hold on to the whole socket chunk each fragment came in.
    if (fragment.length > 0) block.fragments.push(Buffer.from(fragment));
    if ((flags & Flag.END_HEADERS) !== 0) end();
  }

  private readonly endRequestBlock = (): void => {
    const block = this.requestBlock;
    this.requestBlock = undefined;
    if (block === undefined) return;
    const fields = this.decodeBlock(this.requestDecoder, block);
    if (fields === undefined || !this.relaysStream(block.streamId)) return;
    const call = this.calls.requestHeaders(block.streamId, fields);
    if (call === undefined && (this.heldStreams.has(block.streamId) || this.waitingData.some((frame) => (frame.readUInt32BE(5) & 0x7fffffff) === block.streamId))) {
      // Request trailers would overtake the held message: no gRPC client sends them, so this one is cut off.
      this.close('criscope: request trailers on a call being judged');
      return;
    }
    const gate = this.context.tracking.gate;
    if (call !== undefined && gate !== undefined && this.state === 'relaying') {
      const refusal = gate.refuses(call.path);
      if (refusal !== undefined) this.refuse(block.streamId, call, refusal, block.endStream);
      else if (call.judgedAs !== undefined && !block.endStream && gate.holds(call.judgedAs)) call.held = this.holdStream(block.streamId);
    }
    if (this.state === 'relaying') {
      try {
        this.reparent(block, fields, call);
      } catch (error) {
        // Never half a block: without a replacement, the held frames go on as they came (or the connection ends, see requestBlockVerdict).
        this.requestBlockReplacement = undefined;
        this.context.log.error({ err: (error as Error).message }, 'could not re-parent a request');
      }
    }
    if (this.state === 'unavailable') {
      const call = this.calls.get(block.streamId);
      if (call !== undefined) this.answer(block.streamId, call, GrpcStatus.UNAVAILABLE, this.unavailableReason);
      this.scheduleUnavailableClose(UNAVAILABLE_LINGER_MS);
    }
  };

  private readonly endResponseBlock = (): void => {
    const block = this.responseBlock;
    this.responseBlock = undefined;
    if (block === undefined) return;
    const fields = this.decodeBlock(this.responseDecoder, block);
    if (fields === undefined || block.promise) return;
    if (this.answeredStreams.has(block.streamId)) {
      if (block.endStream) this.answeredStreams.delete(block.streamId);
      return;
    }
    this.calls.responseHeaders(block.streamId, fields, block.endStream);
  };

  private decodeBlock(decoder: HpackDecoder, block: OpenHeaderBlock): string[] | undefined {
    if (this.blind) return undefined;
    try {
      const fragments = block.fragments;
      return decoder.decode(fragments.length === 1 ? (fragments[0]) : Buffer.concat(fragments));
    } catch (error) {
      this.goBlind((error as Error).message);
      return undefined;
    }
  }

  /** Ends a call toward the client with criscope's own status, in a header block that leaves HPACK state untouched. */
  private answer(streamId: number, call: TrackedCall, status: number, message: string): void {
    // The runtime's own headers for this stream may be on their way out still (a block not yet ended).
    const headersSent = call.responseHeadersSeen || (this.responseBlock?.streamId === streamId && !this.responseBlock.promise);
    const statusFields: [string, string][] = [
      ['grpc-status', String(status)],
      ['grpc-message', encodeGrpcMessage(message)],
    ];
    const fields: [string, string][] = headersSent
      ? statusFields
      : [
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ...statusFields,
        ];
    this.toClient.inject(headersFrame(streamId, encodeHeaderBlock(fields), true));
    this.answeredStreams.add(streamId);
    this.calls.answered(streamId, status, message);
  }

  /** After criscope's GOAWAY, the connection ends once its last call has. */
  private closeIfIdle(): void {
    if (this.goawayLastStreamId !== undefined && this.activeCalls === 0 && this.state === 'relaying') setImmediate(() => this.close());
  }
}
