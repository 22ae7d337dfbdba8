import type { TrackedCall } from './call-tracker.js';
import { goawayFrame, settingsFrame } from './http2-frames.js';
import type { RelayParts } from './relay-parts.js';
import { GrpcStatus, Http2ErrorCode } from '../wire-codes.js';

/** How long a connection whose runtime is gone waits for the client's first call, and lingers after each answer. */
const FIRST_CALL_WAIT_MS = 2000;
const LINGER_MS = 100;

/** What answering for a lost runtime asks of the connection around it. */
export interface RuntimeLossHost {
  /** True while the connection answers for the lost runtime (no other state has taken over since). */
  answering(): boolean;
  /** Ends the client connection with `goaway` as its last frame. */
  endClient(goaway: Buffer): void;
}

/**
 * A client connection whose runtime is gone: criscope answers every call in
 * flight, and any the client sends meanwhile, with UNAVAILABLE and the reason,
 * then sends GOAWAY and closes, so the client reconnects (and reaches the
 * runtime again once it is back).
 */
export class RuntimeLoss {
  private reason = '';
  private closeTimer: NodeJS.Timeout | undefined;
  /** The client sent SETTINGS of its own: without a runtime, criscope acknowledges them. */
  private clientSentSettings = false;

  constructor(
    private readonly parts: RelayParts,
    private readonly host: RuntimeLossHost,
  ) {}

  clientSettingsSeen(): void {
    this.clientSentSettings = true;
  }

  /** The runtime is gone: answers what is in flight, and gives the client time to send what it has. */
  begin(reason: string): void {
    const { parts } = this;
    this.reason = reason;
    parts.toRuntime.setSink(undefined);
    if (!parts.answers.runtimeHasSpoken) {
      // The client never heard from a server: criscope speaks for this connection's short life.
      parts.toClient.inject(settingsFrame(false));
      if (this.clientSentSettings) parts.toClient.inject(settingsFrame(true));
    }
    for (const [streamId, call] of parts.calls.entries()) parts.answers.answer(streamId, call, GrpcStatus.UNAVAILABLE, reason);
    // A client that already spoke with the runtime just needs GOAWAY to reconnect; a new one gets time to send its calls.
    this.closeAfter(parts.answers.runtimeHasSpoken ? LINGER_MS : FIRST_CALL_WAIT_MS);
  }

  /** A call that arrived after the runtime was lost (undefined: one the tracker does not follow). */
  callArrived(streamId: number, call: TrackedCall | undefined): void {
    if (call !== undefined) this.parts.answers.answer(streamId, call, GrpcStatus.UNAVAILABLE, this.reason);
    this.closeAfter(LINGER_MS);
  }

  /** The connection ended some other way. */
  cancel(): void {
    clearTimeout(this.closeTimer);
  }

  /**
   * Closes once the client has had time to send its calls (each is answered
   * as it comes): closing before a call arrives would make the client see a
   * refused stream instead of criscope's reason.
   */
  private closeAfter(delayMs: number): void {
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => {
      if (this.host.answering()) this.host.endClient(goawayFrame(this.parts.limits.lastStreamIdForClient(), Http2ErrorCode.NO_ERROR, this.reason));
    }, delayMs);
  }
}
