import type { Socket } from 'node:net';
import type { ConnectionContext } from './connection-context.js';
import { CallTracker, type TrackedCall } from './call-tracker.js';
import { ClientAnswers } from './client-answers.js';
import { ClientFrames } from './client-frames.js';
import { FramePump } from './frame-pump.js';
import { ConnectionFrameRules } from './frame-rule-state.js';
import { HeaderBlockReader } from './header-blocks.js';
import { HeldRequests, type HeldRequestsHost } from './held-requests.js';
import { OwnedStreams, type OwnedStreamsHost } from './owned-streams.js';
import { ClientPrefaceReader } from './client-preface.js';
import { goawayFrame, rstStreamFrame } from './http2-frames.js';
import { KeepBudget } from './keep-budget.js';
import { ConnectionEnding } from './connection-ending.js';
import type { RelayLifecycle, RelayParts } from './relay-parts.js';
import { ProtocolErrors, runtimeFrameJudge } from './protocol-errors.js';
import { REQUEST_BLOCKS_AS_THEY_CAME, RequestReparenting, TRACEPARENT } from './request-reparenting.js';
import { openRuntimeConnection } from './runtime-connection.js';
import { RuntimeFrames } from './runtime-frames.js';
import { RuntimeLoss } from './runtime-loss.js';
import { StreamLimits } from './stream-limits.js';
import { GrpcStatus, Http2ErrorCode } from '../wire-codes.js';

/**
 * Relays one client connection to its own connection to the runtime, at the
 * HTTP/2 frame level: every frame passes unchanged in both directions (so
 * flow control, settings, pings, resets and HPACK state stay end to end),
 * while criscope reads headers and messages on the way to record each call.
 * criscope writes frames of its own only between whole frames, outside
 * header blocks, and encoded so that neither peer's HPACK table changes.
 *
 * This class reads the preface, opens the runtime's socket, drains, and
 * wires the parts that do the rest: how the connection ends
 * (connection-ending), protocol errors (protocol-errors), each direction's frames
 * (client-frames, runtime-frames), their HPACK context (header-blocks),
 * tracing's re-parented requests (request-reparenting), held requests
 * (held-requests) and the flow control of their streams (owned-streams,
 * request-flow), criscope's own answers (client-answers) and SETTINGS
 * (settings-exchange), and answering for a runtime that is gone (runtime-loss).
 */
export class ConnectionRelay {
  private readonly preface = new ClientPrefaceReader();
  private readonly ending: ConnectionEnding;
  private readonly parts: RelayParts;
  private readonly clientFrames: ClientFrames;
  private readonly runtimeFrames: RuntimeFrames;
  /** True once the connection can no longer be read: frames still pass, calls are no longer recorded. */
  private blind = false;
  private readonly runtimeLoss: RuntimeLoss;
  private readonly protocolErrors: ProtocolErrors;

  constructor(
    private readonly client: Socket,
    private readonly context: ConnectionContext,
  ) {
    const { tracking } = context;
    const calls = new CallTracker(tracking, new KeepBudget(tracking.maxKeptBytesPerConnection), this.onCallEnded);
    const lifecycle = this.lifecycle();
    const rules = new ConnectionFrameRules();
    // The frame handlers are made once the parts they work with exist: they need the pumps, and the pumps need them.
    const toRuntime = new FramePump(undefined, {
      onFrame: (type, flags, streamId, frame) => this.clientFrames.onFrame(type, flags, streamId, frame),
      onUnreadable: this.goBlind,
      onViolation: (violation, streamId) => this.protocolErrors.client(violation, streamId),
      onOversized: (length, limit) => this.protocolErrors.client({ code: Http2ErrorCode.FRAME_SIZE_ERROR, reason: `a ${length}-byte frame exceeds the runtime's limit of ${limit} (RFC 9113 §4.2)`, scope: 'connection' }, 0),
    }, rules.fromClient);
    const toClient = new FramePump(client, {
      onFrame: (type, flags, streamId, frame) => this.runtimeFrames.onFrame(type, flags, streamId, frame),
      onUnreadable: this.goBlind,
      onViolation: (violation) => this.protocolErrors.runtime(violation),
      onOversized: (length, limit) => this.protocolErrors.runtime({ code: Http2ErrorCode.FRAME_SIZE_ERROR, reason: `a ${length}-byte frame, over the client's limit of ${limit} (RFC 9113 §4.2)`, scope: 'connection' }),
    }, runtimeFrameJudge(rules.fromServer));
    const requestBlocks = new HeaderBlockReader(this.goBlind, tracking.traceContinuation === undefined ? undefined : TRACEPARENT);
    const responseBlocks = new HeaderBlockReader(this.goBlind);
    const owned = new OwnedStreams(this.ownedStreamsHost());
    const held = new HeldRequests(owned, this.heldRequestsHost(), tracking);
    this.parts = {
      tracking,
      log: context.log,
      calls,
      toClient,
      toRuntime,
      requestBlocks,
      responseBlocks,
      reparenting: tracking.traceContinuation === undefined ? REQUEST_BLOCKS_AS_THEY_CAME : new RequestReparenting(tracking.traceContinuation, toRuntime, requestBlocks.decoder),
      owned,
      held,
      answers: new ClientAnswers(toClient, calls, responseBlocks),
      limits: new StreamLimits(),
      settings: { toClient, toRuntime, requestBlocks, responseBlocks, owned },
    };
    this.ending = new ConnectionEnding(client, this.parts, context.log);
    this.clientFrames = new ClientFrames(this.parts, lifecycle);
    this.runtimeFrames = new RuntimeFrames(this.parts, lifecycle);
    this.runtimeLoss = new RuntimeLoss(this.parts, {
      answering: () => this.ending.state === 'unavailable',
      endClient: (goaway) => this.ending.endClient(goaway),
    });
    this.protocolErrors = new ProtocolErrors(this.parts, {
      state: () => this.ending.state,
      blind: () => this.blind,
      runtimeSocket: () => this.ending.upstream,
      rejectClient: (code, reason) => this.ending.reject(code, reason),
      loseRuntime: (reason) => this.failUpstream(reason),
    });
    client.on('data', this.onClientData);
    client.on('drain', () => this.ending.upstream?.resume());
    client.on('error', () => undefined);
    client.on('close', this.onClientClose);
  }

  /** Calls still waiting for their answer; a connection criscope cannot follow counts as busy until it closes. */
  get activeCalls(): number {
    return this.blind ? Math.max(1, this.parts.calls.size) : this.parts.calls.size;
  }

  /** The calls this connection is following, oldest first: a copy. */
  callsInFlight(): readonly TrackedCall[] {
    return this.parts.calls.values();
  }

  /**
   * Starts a graceful stop: the client is told to open no new streams here,
   * and server-streaming calls end now with UNAVAILABLE so their clients
   * reconnect. Unary calls in flight go on; the connection closes after the
   * last one, or when `close()` cuts it.
   */
  drain(reason: string): void {
    if (this.ending.state === 'closed' || this.parts.limits.draining) return;
    // Before the runtime's SETTINGS, a GOAWAY would be the server's first frame (RFC 9113 §3.4): a connection this new just closes.
    if (this.ending.state === 'preface' || !this.parts.answers.runtimeHasSpoken) {
      this.close(reason);
      return;
    }
    this.parts.toClient.inject(goawayFrame(this.parts.limits.drain(), Http2ErrorCode.NO_ERROR, reason));
    for (const [streamId, call] of this.parts.calls.entries()) {
      if (call.serverStreaming) {
        // Reset at the runtime first: the answer ends the call, and nothing of it may reach the runtime after.
        this.parts.owned.resetAtRuntimeSide(streamId, Http2ErrorCode.CANCEL);
        this.parts.answers.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
      }
    }
    this.closeIfIdle();
  }

  /** Ends both connections now; calls still in flight are answered UNAVAILABLE first when possible. */
  close(reason = 'criscope is shutting down'): void {
    this.ending.close(reason);
  }

  /** Drops both sockets at once (a client that does not hang up after GOAWAY). */
  destroy(): void {
    this.ending.destroy();
  }

  /** What the frame handlers ask of this connection. */
  private lifecycle(): RelayLifecycle {
    return {
      state: () => this.ending.state,
      blind: () => this.blind,
      destroy: () => this.destroy(),
      close: (reason) => this.close(reason),
      clientSentSettings: () => this.runtimeLoss.clientSettingsSeen(),
      callWhileUnavailable: (streamId, call) => this.runtimeLoss.callArrived(streamId, call),
    };
  }

  /** What the owned streams need of this connection. */
  private ownedStreamsHost(): OwnedStreamsHost {
    return {
      relaying: () => this.ending.state === 'relaying',
      runtimeMaxFrameSize: () => this.parts.toRuntime.maxFrameSize,
      toRuntime: (frame) => this.parts.toRuntime.inject(frame),
      toClient: (frame, stillDue) => this.toClientAfterSettings(frame, stillDue),
      rejectClient: (code, reason) => this.ending.reject(code, reason),
      resetCall: (streamId, code) => this.parts.calls.reset(streamId, code),
    };
  }

  /** What judging held requests needs of this connection. */
  private heldRequestsHost(): HeldRequestsHost {
    return {
      relaying: () => this.ending.state === 'relaying',
      answer: (streamId, call, status, message, resetClientSide) =>
        this.parts.answers.onceRuntimeSpoke(() => {
          if (this.ending.state !== 'relaying' || this.parts.calls.get(streamId) !== call) return;
          this.parts.answers.answer(streamId, call, status, message);
          // The runtime never saw the message, so it sends nothing more on this stream but credit.
          this.parts.answers.streamEnded(streamId);
          if (resetClientSide) this.parts.toClient.inject(rstStreamFrame(streamId, Http2ErrorCode.NO_ERROR));
        }),
      call: (streamId) => this.parts.calls.get(streamId),
    };
  }

  private readonly onClientData = (chunk: Buffer): void => {
    const { ending } = this;
    if (ending.state === 'preface') {
      const progress = this.preface.push(chunk);
      if (progress.kind === 'not http2') return ending.reject(Http2ErrorCode.PROTOCOL_ERROR, 'criscope: expected gRPC (HTTP/2 with prior knowledge)');
      if (progress.kind === 'incomplete') return;
      ending.prefaceRead();
      this.connectUpstream();
      chunk = progress.rest;
    }
    if (ending.closed || chunk.length === 0) return;
    // A connection the chunk's frames ended is read on to its hang-up (endClient), not paused.
    if (!this.parts.toRuntime.push(chunk) && !ending.closed) this.client.pause();
  };

  private connectUpstream(): void {
    const upstream = openRuntimeConnection(this.context.upstreamPath, {
      onConnected: () => this.context.reachability.connected(this.context.endpoint),
      onData: (chunk) => this.ending.state === 'closed' || this.parts.toClient.push(chunk),
      onDrain: () => this.client.resume(),
      caughtUp: () => this.client.writableLength === 0,
      onClosed: this.onUpstreamClose,
    });
    this.ending.upstream = upstream;
    this.parts.toRuntime.setSink(upstream);
  }

  private readonly onUpstreamClose = (everConnected: boolean, why: string | undefined): void => {
    if (this.ending.state === 'closed' || this.ending.state === 'unavailable') return;
    const closed = `the runtime closed the connection${why === undefined ? '' : `: ${why}`}`;
    this.context.reachability.unreachable(this.context.endpoint, everConnected ? closed : (why ?? 'connection closed'));
    this.failUpstream(everConnected ? `criscope: ${closed}` : `criscope: cannot reach the runtime at ${this.context.endpoint}: ${why ?? 'connection closed'}`);
  };

  /** The runtime is gone: from here on criscope answers for it (runtime-loss). */
  private failUpstream(reason: string): void {
    if (this.parts.toClient.insideHeaderBlock) {
      // Half a header block went out and its end never will: the connection is beyond repair.
      this.destroy();
      return;
    }
    this.ending.state = 'unavailable';
    this.client.resume();
    this.runtimeLoss.begin(reason);
  }

  private readonly onClientClose = (): void => {
    this.ending.clientClosed();
    this.runtimeLoss.cancel();
    // Calls still open ended with the client going away.
    for (const [streamId] of this.parts.calls.entries()) this.parts.calls.reset(streamId, Http2ErrorCode.CANCEL);
    this.context.onClosed();
  };

  private readonly onCallEnded = (call: TrackedCall): void => {
    this.parts.held.callEnded(call);
    this.context.onCallEnded();
    this.closeIfIdle();
  };

  /** The connection can no longer be followed: relay it untouched from here on, without records. */
  private readonly goBlind = (reason: string, cause?: unknown): void => {
    if (this.blind) return;
    this.blind = true;
    this.parts.requestBlocks.stop();
    this.parts.responseBlocks.stop();
    if (this.parts.reparenting.spliced || this.context.tracking.gate.inForce) {
      // Request blocks can no longer be spliced to match the runtime's table, or calls judged before they go on: the client must reconnect.
      this.context.log.warn({ reason, err: cause }, 'cannot follow a connection whose requests are spliced or judged; closing it');
      this.close('criscope: cannot follow this connection; reconnect');
      return;
    }
    this.parts.calls.forgetAll();
    this.context.log.warn({ reason, err: cause }, 'cannot follow a client connection; relaying it without call records');
  };

  /**
   * Writes a frame of criscope's own to the client now, or once the runtime's
   * SETTINGS has gone to it (a server's first frame must be its SETTINGS), if
   * `stillDue()` then.
   */
  private toClientAfterSettings(frame: Buffer, stillDue: () => boolean): void {
    if (this.parts.answers.runtimeHasSpoken || this.ending.state === 'unavailable') this.parts.toClient.inject(frame);
    else
      this.parts.answers.onceRuntimeSpoke(() => {
        if (this.ending.state === 'relaying' && stillDue()) this.parts.toClient.inject(frame);
      });
  }

  /** After criscope's GOAWAY, the connection ends once its last call has. */
  private closeIfIdle(): void {
    if (this.parts.limits.draining && this.activeCalls === 0 && this.ending.state === 'relaying') setImmediate(() => this.close());
  }
}
