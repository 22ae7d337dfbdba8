import type { Socket } from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import { goawayFrame, settingsFrame } from './http2-frames.js';
import type { ConnectionState, RelayParts } from './relay-parts.js';
import { GrpcStatus, Http2ErrorCode } from '../wire-codes.js';

/** The parts of the connection that ending it works with: criscope's answers go out through them. */
export type EndingParts = Pick<RelayParts, 'toClient' | 'answers' | 'calls' | 'limits'>;

/** A client criscope has ended the connection with gets this long to hang up before its socket is closed for it. */
const HANG_UP_GRACE_MS = 5_000;
/** A connection that has not sent the HTTP/2 preface by then is not a gRPC client: it is closed. */
const PREFACE_TIMEOUT_MS = 10_000;

/**
 * Where one relayed connection is in its life, and the ways it ends: closed
 * with its calls answered, rejected with a GOAWAY, or dropped. Whichever way,
 * the client's socket is read on until the client hangs up (or is cut off),
 * so its calls end and its file descriptor is let go.
 */
export class ConnectionEnding {
  state: ConnectionState = 'preface';
  /** The connection to the runtime, once the preface is in. */
  upstream: Socket | undefined;
  private readonly prefaceTimer: NodeJS.Timeout;
  private hangUpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Socket,
    private readonly parts: EndingParts,
    private readonly log: Logger,
  ) {
    this.prefaceTimer = setTimeout(() => {
      if (this.state === 'preface') this.reject(Http2ErrorCode.PROTOCOL_ERROR, 'criscope: no HTTP/2 preface within 10 s');
    }, PREFACE_TIMEOUT_MS);
  }

  /** The client's preface is in: frames are relayed from here on. */
  prefaceRead(): void {
    clearTimeout(this.prefaceTimer);
    this.state = 'relaying';
  }

  /** True once the connection is over for criscope (a getter, so that callers read it afresh after a step that may end it). */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Ends both connections now; calls still in flight are answered UNAVAILABLE first when possible. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    const { toClient, answers, calls } = this.parts;
    if (toClient.insideHeaderBlock) return this.destroy();
    // A server's first frame is its SETTINGS (RFC 9113 §3.4): criscope's own, when the runtime has not spoken yet.
    if (this.state === 'relaying' && !answers.runtimeHasSpoken && calls.size > 0) toClient.inject(settingsFrame(false));
    for (const [streamId, call] of calls.entries()) answers.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    this.state = 'closed';
    if (toClient.pumping) {
      // Closing from a runtime frame being relayed: the answers above go out after it, so the socket ends once they are written, and nothing of the runtime's follows them.
      toClient.stop();
      queueMicrotask(() => this.endClient());
    } else {
      this.endClient();
    }
    this.upstream?.destroy();
  }

  /** Drops both sockets at once (a client that does not hang up after GOAWAY). */
  destroy(): void {
    this.state = 'closed';
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Ends a client connection criscope cannot relay, with a GOAWAY that says why. */
  reject(code: number, reason: string): void {
    if (this.state === 'closed') return;
    // Inside a header block of the runtime's, a GOAWAY would be one more protocol error (RFC 9113 §6.10): the connection just ends.
    if (this.parts.toClient.insideHeaderBlock) {
      this.log.debug({ reason }, 'client connection dropped inside a header block');
      return this.destroy();
    }
    this.log.debug({ reason }, 'client connection rejected');
    clearTimeout(this.prefaceTimer);
    // A server's first frame is its SETTINGS (§3.4), even when its next is GOAWAY; nothing of the runtime's has gone out yet.
    if (this.state === 'relaying' && !this.parts.answers.runtimeHasSpoken) this.client.write(settingsFrame(false));
    this.state = 'closed';
    this.upstream?.destroy();
    this.endClient(goawayFrame(this.parts.limits.lastStreamIdForClient(), code, reason));
  }

  /**
   * Ends criscope's side of the client connection, after `lastFrame`. The
   * socket is read on (and what comes discarded), even if backpressure had
   * paused it, so the client's hang-up is seen and the connection's calls end;
   * a client that never hangs up is cut off.
   */
  endClient(lastFrame?: Buffer): void {
    this.state = 'closed';
    if (lastFrame === undefined) this.client.end();
    else this.client.end(lastFrame);
    this.client.resume();
    this.hangUpTimer ??= setTimeout(() => this.client.destroy(), HANG_UP_GRACE_MS).unref();
  }

  /** The client hung up: nothing is left to end but the runtime's side. */
  clientClosed(): void {
    this.state = 'closed';
    clearTimeout(this.prefaceTimer);
    clearTimeout(this.hangUpTimer);
    this.upstream?.destroy();
  }
}
