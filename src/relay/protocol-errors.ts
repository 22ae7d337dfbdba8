import type { Socket } from 'node:net';
import type { FrameJudge, Violation } from './frame-rules.js';
import { goawayFrame, rstStreamFrame } from './http2-frames.js';
import type { ConnectionState, RelayParts } from './relay-parts.js';

/** What answering a peer's protocol error asks of the connection around it. */
export interface ProtocolErrorsHost {
  state(): ConnectionState;
  /** True once criscope can no longer follow the connection's calls. */
  blind(): boolean;
  /** criscope's socket to the runtime, once opened. */
  runtimeSocket(): Socket | undefined;
  /** Ends the client connection with GOAWAY(code, reason), and the runtime's with it. */
  rejectClient(code: number, reason: string): void;
  /** Leaves the runtime and answers for it from here on. */
  loseRuntime(reason: string): void;
}

/**
 * Judges the runtime's frames as `rules` does, every violation ending the
 * connection: criscope leaves a runtime that breaks HTTP/2 at all
 * (ProtocolErrors.runtime), so nothing it sends after a stream error may
 * reach the client either.
 */
export function runtimeFrameJudge(rules: FrameJudge): FrameJudge {
  return {
    judge: (type, flags, streamId, frame) => {
      const violation = rules.judge(type, flags, streamId, frame);
      return violation?.scope === 'stream' ? { ...violation, scope: 'connection' } : violation;
    },
  };
}

/**
 * Answers a peer that broke RFC 9113 (as frame-rules finds), at criscope: the
 * offending frame goes no further, and each side hears the error its own
 * protocol prescribes.
 */
export class ProtocolErrors {
  constructor(
    private readonly parts: RelayParts,
    private readonly host: ProtocolErrorsHost,
  ) {}

  /** A connection error ends both connections, GOAWAY to the client; a stream error resets the stream on both sides. */
  client(violation: Violation, streamId: number): void {
    const { parts, host } = this;
    if (violation.scope === 'connection') {
      host.rejectClient(violation.code, `criscope: ${violation.reason}`);
      return;
    }
    if (host.state() === 'closed') return;
    parts.log.debug({ reason: violation.reason, streamId }, 'client stream reset');
    // Only a stream with a call in flight is open at the runtime: a reset of an idle or closed one would be criscope's own protocol
    // error (§5.1, §6.4). A connection criscope cannot follow has no calls to tell: its stream is reset there as before.
    const openAtRuntime = host.blind() || parts.calls.get(streamId) !== undefined;
    if (parts.limits.relays(streamId) && openAtRuntime) parts.owned.resetAtRuntimeSide(streamId, violation.code);
    else parts.owned.streamReset(streamId);
    const reset = (): void => parts.toClient.inject(rstStreamFrame(streamId, violation.code));
    if (host.state() === 'relaying') parts.answers.onceRuntimeSpoke(reset);
    else reset();
    // The runtime's DATA and reset for the stream, already on their way, are not the client's to see after criscope's reset (§5.1).
    parts.answers.endedForClient(streamId);
    parts.calls.reset(streamId, violation.code);
  }

  /** The runtime is sent GOAWAY with the error and left; the client is served as when the runtime goes away. */
  runtime(violation: Violation): void {
    const { parts, host } = this;
    const upstream = host.runtimeSocket();
    if (host.state() !== 'relaying' || upstream === undefined) return;
    parts.log.warn({ reason: violation.reason }, 'the runtime broke HTTP/2; leaving its connection');
    // Inside a header block of the client's, a GOAWAY would be one more protocol error.
    if (parts.toRuntime.insideHeaderBlock) upstream.destroy();
    else upstream.end(goawayFrame(0, violation.code, `criscope: ${violation.reason}`), () => upstream.destroy());
    host.loseRuntime(`criscope: the runtime broke HTTP/2: ${violation.reason}`);
  }
}
