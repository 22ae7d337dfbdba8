import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { GrpcStatus } from '../errors.js';
import { CallTracker, type TrackedCall, type TrackingContext } from './call-tracker.js';
import { FramePump, FrameVerdict } from './frame-pump.js';
import { encodeGrpcMessage } from './grpc-message.js';
import { HpackDecoder } from './hpack/decoder.js';
import { encodeHeaderBlock } from './hpack/encoder.js';
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FrameType,
  framePayload,
  goawayFrame,
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
  /** Called once when both sockets are gone. */
  readonly onClosed: (relay: ConnectionRelay) => void;
}

/** A header block being collected across HEADERS and CONTINUATION frames. */
interface OpenHeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
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
 * It writes frames of its own only when the runtime cannot answer (UNAVAILABLE)
 * or while shutting down, and always in a form that leaves both peers'
 * header-compression state untouched.
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
  private readonly requestDecoder = new HpackDecoder();
  private readonly responseDecoder = new HpackDecoder();
  private requestBlock: OpenHeaderBlock | undefined;
  private responseBlock: OpenHeaderBlock | undefined;
  /** True once header compression could not be followed: frames still pass, calls are no longer recorded. */
  private blind = false;
  private clientSentSettings = false;
  private lastClientStreamId = 0;
  /** Set once criscope has sent GOAWAY: streams above it are not relayed. */
  private goawayLastStreamId: number | undefined;
  /** Streams criscope has answered itself; what the runtime still sends on them is dropped. */
  private readonly answeredStreams = new Set<number>();

  constructor(
    private readonly client: Socket,
    private readonly context: ConnectionContext,
  ) {
    this.calls = new CallTracker(context.tracking);
    this.toUpstream = new FramePump(undefined, this.onClientFrame);
    this.toClient = new FramePump(client, this.onRuntimeFrame);
    this.prefaceTimer = setTimeout(() => {
      if (this.state === 'preface') this.rejectNonHttp2('no HTTP/2 preface within 10 s');
    }, PREFACE_TIMEOUT_MS);
    client.on('data', this.onClientData);
    client.on('drain', () => this.upstream?.resume());
    client.on('error', () => undefined);
    client.on('close', this.onClientClose);
  }

  /** Calls still waiting for their answer. */
  get activeCalls(): number {
    return this.calls.size;
  }

  /**
   * Starts a graceful stop: the client is told to open no new streams here,
   * and server-streaming calls end now with UNAVAILABLE so their clients
   * reconnect. Unary calls in flight go on; `close()` cuts what is left.
   */
  drain(reason: string): void {
    if (this.state === 'closed' || this.goawayLastStreamId !== undefined) return;
    if (this.state === 'preface') return this.close();
    this.goawayLastStreamId = this.lastClientStreamId;
    this.toClient.inject(goawayFrame(this.lastClientStreamId, ErrorCode.NO_ERROR, reason));
    for (const [streamId, call] of this.calls.entries()) {
      if (call.serverStreaming) {
        this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
        this.toUpstream.inject(rstStreamFrame(streamId, ErrorCode.CANCEL));
      }
    }
    this.closeIfIdle();
  }

  /** Drops both sockets at once (a client that does not hang up after GOAWAY). */
  destroy(): void {
    this.state = 'closed';
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Ends both connections now; calls still in flight are answered UNAVAILABLE first when possible. */
  close(reason = 'criscope is shutting down'): void {
    if (this.state === 'closed') return;
    for (const [streamId, call] of this.calls.entries()) this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    this.state = 'closed';
    this.client.end();
    this.upstream?.destroy();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    if (this.state === 'preface') {
      this.preface = Buffer.concat([this.preface, chunk]);
      if (this.preface.length < CLIENT_PREFACE.length) {
        if (!CLIENT_PREFACE.subarray(0, this.preface.length).equals(this.preface)) this.rejectNonHttp2('not HTTP/2');
        return;
      }
      if (!this.preface.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) return this.rejectNonHttp2('not HTTP/2');
      const rest = this.preface.subarray(CLIENT_PREFACE.length);
      clearTimeout(this.prefaceTimer);
      this.state = 'relaying';
      this.connectUpstream();
      chunk = rest;
    }
    if (this.state === 'closed' || chunk.length === 0) return;
    if (!this.toUpstream.push(chunk)) this.client.pause();
  };

  /** Bytes that are not HTTP/2 with prior knowledge get a GOAWAY that says so, and the connection ends. */
  private rejectNonHttp2(reason: string): void {
    this.context.log.debug({ reason }, 'client connection is not gRPC; closed');
    clearTimeout(this.prefaceTimer);
    this.state = 'closed';
    this.client.end(goawayFrame(0, ErrorCode.PROTOCOL_ERROR, 'criscope: expected gRPC (HTTP/2 with prior knowledge)'));
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
      if (!this.toClient.push(chunk)) upstream.pause();
    });
    upstream.on('drain', () => this.client.resume());
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      this.upstreamError = error.code ?? error.message;
    });
    upstream.on('close', this.onUpstreamClose);
  }

  private readonly onUpstreamClose = (): void => {
    if (this.state === 'closed') return;
    const reason = this.upstreamConnected
      ? `criscope: the runtime closed the connection${this.upstreamError === undefined ? '' : ` (${this.upstreamError})`}`
      : `criscope: cannot reach the runtime at ${this.context.endpoint}: ${this.upstreamError ?? 'connection closed'}`;
    this.context.reachability.unreachable(this.context.endpoint, this.upstreamConnected ? 'the runtime closed the connection' : (this.upstreamError ?? 'connection closed'));
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
      this.state = 'closed';
      this.client.destroy();
      return;
    }
    this.state = 'unavailable';
    this.unavailableReason = reason;
    this.toUpstream.setSink(undefined);
    if (!this.upstreamConnected) {
      // The client never heard from a server: criscope speaks for this connection's short life.
      this.toClient.inject(settingsFrame(false));
      if (this.clientSentSettings) this.toClient.inject(settingsFrame(true));
    }
    for (const [streamId, call] of this.calls.entries()) this.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    // A client that already spoke with the runtime just needs GOAWAY to reconnect; a new one gets time to send its calls.
    this.scheduleUnavailableClose(this.upstreamConnected ? UNAVAILABLE_LINGER_MS : UNAVAILABLE_FIRST_CALL_WAIT_MS);
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
      this.client.end(goawayFrame(this.lastClientStreamId, ErrorCode.NO_ERROR, this.unavailableReason));
    }, delayMs);
  }

  private unavailableCloseTimer: NodeJS.Timeout | undefined;
  private unavailableReason = '';

  private readonly onClientClose = (): void => {
    this.state = 'closed';
    clearTimeout(this.prefaceTimer);
    clearTimeout(this.unavailableCloseTimer);
    this.upstream?.destroy();
    // Calls still open ended with the client going away.
    for (const [streamId] of this.calls.entries()) this.calls.reset(streamId, ErrorCode.CANCEL);
    this.context.onClosed(this);
  };

  /** Frames from the client (kubelet) toward the runtime. */
  private readonly onClientFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    switch (type) {
      case FrameType.HEADERS: {
        const isNew = streamId > this.lastClientStreamId;
        if (isNew) this.lastClientStreamId = streamId;
        this.requestBlock = { streamId, endStream: (flags & Flag.END_STREAM) !== 0, fragments: [framePayload(frame, type, flags)] };
        if ((flags & Flag.END_HEADERS) !== 0) this.endRequestBlock();
        return this.relaysStream(streamId) ? FrameVerdict.Forward : FrameVerdict.Drop;
      }
      case FrameType.CONTINUATION:
        this.requestBlock?.fragments.push(framePayload(frame, type, flags));
        if ((flags & Flag.END_HEADERS) !== 0) this.endRequestBlock();
        return this.relaysStream(streamId) ? FrameVerdict.Forward : FrameVerdict.Drop;
      case FrameType.DATA:
        if (!this.relaysStream(streamId) || this.state === 'unavailable') {
          // Nobody will read these bytes: give the client its connection window back.
          if (frame.length > 9) this.toClient.inject(windowUpdateFrame(0, frame.length - 9));
          return FrameVerdict.Drop;
        }
        this.calls.requestData(streamId, framePayload(frame, type, flags));
        return FrameVerdict.Forward;
      case FrameType.RST_STREAM:
        this.calls.reset(streamId, frame.readUInt32BE(9));
        this.answeredStreams.delete(streamId);
        return FrameVerdict.Forward;
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) === 0) {
          this.clientSentSettings = true;
          if (this.state === 'unavailable') this.toClient.inject(settingsFrame(true));
        }
        return FrameVerdict.Forward;
      case FrameType.PING:
        if (this.state === 'unavailable' && (flags & Flag.ACK) === 0) this.toClient.inject(pingAckFrame(frame.subarray(9)));
        return FrameVerdict.Forward;
      default:
        return FrameVerdict.Forward;
    }
  };

  /** Frames from the runtime toward the client. */
  private readonly onRuntimeFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    switch (type) {
      case FrameType.HEADERS:
        // Always relayed, even on a stream criscope answered: the client must see every header block to keep its HPACK state.
        this.responseBlock = { streamId, endStream: (flags & Flag.END_STREAM) !== 0, fragments: [framePayload(frame, type, flags)] };
        if ((flags & Flag.END_HEADERS) !== 0) this.endResponseBlock();
        return FrameVerdict.Forward;
      case FrameType.CONTINUATION:
        this.responseBlock?.fragments.push(framePayload(frame, type, flags));
        if ((flags & Flag.END_HEADERS) !== 0) this.endResponseBlock();
        return FrameVerdict.Forward;
      case FrameType.DATA:
        if (this.answeredStreams.has(streamId)) {
          if ((flags & Flag.END_STREAM) !== 0) this.answeredStreams.delete(streamId);
          if (frame.length > 9) this.toUpstream.inject(windowUpdateFrame(0, frame.length - 9));
          return FrameVerdict.Drop;
        }
        this.calls.responseData(streamId, framePayload(frame, type, flags), (flags & Flag.END_STREAM) !== 0);
        return FrameVerdict.Forward;
      case FrameType.RST_STREAM:
        if (this.answeredStreams.delete(streamId)) return FrameVerdict.Drop;
        this.calls.reset(streamId, frame.readUInt32BE(9));
        return FrameVerdict.Forward;
      default:
        return FrameVerdict.Forward;
    }
  };

  /** True while frames of `streamId` go on to the runtime (not after criscope's GOAWAY, nor once it is unreachable). */
  private relaysStream(streamId: number): boolean {
    return this.goawayLastStreamId === undefined || streamId <= this.goawayLastStreamId;
  }

  private endRequestBlock(): void {
    const block = this.requestBlock;
    this.requestBlock = undefined;
    if (block === undefined || this.blind) return;
    const fields = this.decodeBlock(this.requestDecoder, block);
    if (fields === undefined) return;
    if (!this.relaysStream(block.streamId)) return;
    this.calls.requestHeaders(block.streamId, fields);
    if (this.state === 'unavailable') {
      const call = this.calls.get(block.streamId);
      if (call !== undefined) this.answer(block.streamId, call, GrpcStatus.UNAVAILABLE, this.unavailableReason);
      this.scheduleUnavailableClose(UNAVAILABLE_LINGER_MS);
    }
  }

  private endResponseBlock(): void {
    const block = this.responseBlock;
    this.responseBlock = undefined;
    if (block === undefined || this.blind) return;
    const fields = this.decodeBlock(this.responseDecoder, block);
    if (fields === undefined) return;
    if (this.answeredStreams.has(block.streamId)) {
      if (block.endStream) this.answeredStreams.delete(block.streamId);
      return;
    }
    this.calls.responseHeaders(block.streamId, fields, block.endStream);
    if (block.endStream) this.closeIfIdle();
  }

  private decodeBlock(decoder: HpackDecoder, block: OpenHeaderBlock): string[] | undefined {
    try {
      const fragments = block.fragments;
      return decoder.decode(fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments));
    } catch (error) {
      // Frames still pass untouched; only the records of this connection's calls are lost.
      this.blind = true;
      this.context.log.warn({ err: (error as Error).message }, 'cannot follow header compression on a client connection; relaying it without call records');
      return undefined;
    }
  }

  /** Ends a call toward the client with criscope's own status, in a header block that leaves HPACK state untouched. */
  private answer(streamId: number, call: TrackedCall, status: number, message: string): void {
    const fields: [string, string][] = call.responseHeadersSeen
      ? [
          ['grpc-status', String(status)],
          ['grpc-message', encodeGrpcMessage(message)],
        ]
      : [
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ['grpc-status', String(status)],
          ['grpc-message', encodeGrpcMessage(message)],
        ];
    this.toClient.inject(headersFrame(streamId, encodeHeaderBlock(fields), true));
    this.answeredStreams.add(streamId);
    this.calls.answered(streamId, status, message);
  }

  /** After GOAWAY, the connection ends once its last call has. */
  private closeIfIdle(): void {
    if (this.goawayLastStreamId !== undefined && this.calls.size === 0 && this.state === 'relaying') setImmediate(() => this.close());
  }
}
