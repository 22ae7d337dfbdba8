import type { CallTracker, TrackedCall } from './call-tracker.js';
import type { FramePump } from './frame-pump.js';
import type { HeaderBlockReader } from './header-blocks.js';
import { encodeGrpcMessage } from './grpc-message.js';
import { encodeHeaderBlock } from './hpack/encoder.js';
import { headersFrame } from './http2-frames.js';

/**
 * The most streams remembered as answered by criscope; past it the oldest is
 * forgotten. Each is forgotten when the runtime ends the stream, but one
 * criscope also reset at the runtime (a server-streaming call its drain
 * ended, a stream reset for a client's error) never ends there.
 */
const MOST_ANSWERED_STREAMS_REMEMBERED = 1024;

/**
 * The frames criscope writes to the client in its own name: a call's status
 * when it answers the call itself, and the credits and resets of the streams
 * it holds. A server's first frame must be its SETTINGS (RFC 9113 §3.4), so
 * until the runtime's SETTINGS has gone to the client, what criscope owes
 * waits for it.
 */
export class ClientAnswers {
  private runtimeSpoke = false;
  private owed: (() => void)[] = [];
  /** Streams criscope has answered itself; what the runtime still sends on them is dropped where it can be. */
  private readonly answered = new Set<number>();

  constructor(
    private readonly toClient: FramePump,
    private readonly calls: CallTracker,
    /** The runtime's header blocks: one of its own for the call may be on its way out still. */
    private readonly responseBlocks: HeaderBlockReader,
  ) {}

  /** True once the runtime's first frame (its SETTINGS) has gone to the client. */
  get runtimeHasSpoken(): boolean {
    return this.runtimeSpoke;
  }

  /** The runtime's first frame is being relayed: what criscope owes is written after it. */
  runtimeSpeaks(): void {
    if (this.runtimeSpoke) return;
    this.runtimeSpoke = true;
    const owed = this.owed;
    this.owed = [];
    for (const write of owed) write();
  }

  /** Runs `write` now, or once the runtime's SETTINGS has gone to the client. */
  onceRuntimeSpoke(write: () => void): void {
    if (this.runtimeSpoke) write();
    else this.owed.push(write);
  }

  /**
   * Ends a call toward the client with criscope's own status, in a header
   * block that leaves HPACK state untouched: trailers when the runtime's own
   * response headers have gone out (or are going), a whole answer otherwise.
   */
  answer(streamId: number, call: TrackedCall, status: number, message: string): void {
    const headersSent = call.responseHeadersSeen || this.responseBlocks.openCallStreamId === streamId;
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
    this.endedForClient(streamId);
    this.calls.answered(streamId, status, message);
  }

  /** criscope ended the stream toward the client itself (an answer, or a reset): what the runtime still sends on it goes no further where it can be dropped. */
  endedForClient(streamId: number): void {
    this.answered.add(streamId);
    if (this.answered.size <= MOST_ANSWERED_STREAMS_REMEMBERED) return;
    const oldest = this.answered.values().next();
    if (oldest.done !== true) this.answered.delete(oldest.value);
  }

  /** True if criscope answered the stream itself (the runtime's frames for it are not the client's to see). */
  answeredStream(streamId: number): boolean {
    return this.answered.has(streamId);
  }

  /** The stream is over on the runtime's side too (its END_STREAM or a reset): returns whether criscope had answered it. */
  streamEnded(streamId: number): boolean {
    return this.answered.delete(streamId);
  }
}
