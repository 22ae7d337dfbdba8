import { FrameVerdict } from './frame-pump.js';
import type { HeaderBlock } from './header-blocks.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, pingAckFrame, settingsFrame, windowUpdateFrame } from './http2-frames.js';
import type { RelayLifecycle, RelayParts } from './relay-parts.js';
import { clientSettings } from './settings-exchange.js';

/**
 * What criscope does with each frame the client (kubelet) sends toward the
 * runtime: most go on as they came; request header blocks are read (and,
 * with tracing, re-encoded), DATA of held calls waits for judgement, and
 * nothing goes on for streams refused by criscope's GOAWAY or once the
 * runtime is gone.
 */
export class ClientFrames {
  /** Whether the request header block being received was withheld from the runtime. */
  private blockRefused = false;
  /** Whether the request header block being received opens its stream (a call), or is trailers on one. */
  private blockOpensStream = false;
  /** True once a request header block was withheld from the runtime: its HPACK table is behind. */
  private withheldBlock = false;

  constructor(
    private readonly parts: RelayParts,
    private readonly connection: RelayLifecycle,
  ) {}

  readonly onFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    const { parts, connection } = this;
    // A CONTINUATION goes wherever the HEADERS it continues went.
    const refused = type === FrameType.CONTINUATION ? this.blockRefused : streamId !== 0 && (!parts.limits.relays(streamId) || this.closedAtRuntime(type, streamId));
    if (type === FrameType.HEADERS) this.blockRefused = refused;
    if (refused) return this.refuse(type, streamId, flags, frame);
    switch (type) {
      case FrameType.HEADERS:
        this.blockOpensStream = parts.limits.clientOpened(streamId);
        if (this.withheldBlock) {
          // The runtime's HPACK table is missing a block: this one would decode wrongly there.
          connection.destroy();
          return FrameVerdict.Drop;
        }
        this.onBlock(parts.requestBlocks.start(streamId, flags, frame, type));
        return this.blockFrameFate(flags, frame);
      case FrameType.CONTINUATION:
        this.onBlock(parts.requestBlocks.continue(flags, frame));
        return this.blockFrameFate(flags, frame);
      case FrameType.DATA:
        if (connection.state() === 'unavailable') return this.refuse(type, streamId, flags, frame);
        return connection.blind() ? FrameVerdict.Forward : parts.held.clientData(streamId, flags, frame, parts.calls.get(streamId));
      case FrameType.RST_STREAM: {
        // Forgotten before the call ends, so the call's end does not reset the stream at the runtime a second time.
        const runtimeStillOpen = parts.owned.clientReset(streamId);
        parts.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        parts.answers.streamEnded(streamId);
        return runtimeStillOpen ? FrameVerdict.Forward : FrameVerdict.Drop;
      }
      case FrameType.SETTINGS:
        clientSettings(parts.settings, flags, frame);
        if ((flags & Flag.ACK) === 0) {
          connection.clientSentSettings();
          // Nobody else will acknowledge it: the runtime is gone.
          if (connection.state() === 'unavailable') parts.toClient.inject(settingsFrame(true));
        }
        return FrameVerdict.Forward;
      case FrameType.PING:
        if (connection.state() === 'unavailable' && (flags & Flag.ACK) === 0) parts.toClient.inject(pingAckFrame(frame.subarray(FRAME_HEADER_LENGTH)));
        return FrameVerdict.Forward;
      default:
        return FrameVerdict.Forward;
    }
  };

  /**
   * True for a frame on a stream criscope reset at the runtime, which may
   * see nothing more of it but PRIORITY (RFC 9113 §5.1). DATA and RST_STREAM
   * there are the owned streams' to drop (DATA's credit goes back to the client).
   */
  private closedAtRuntime(type: number, streamId: number): boolean {
    return type !== FrameType.DATA && type !== FrameType.RST_STREAM && type !== FrameType.PRIORITY && this.parts.owned.resetAtRuntimeOnly(streamId);
  }

  /**
   * A frame that must not reach the runtime (a stream refused by criscope's
   * GOAWAY or reset at the runtime, or any stream once the runtime is gone).
   * Its header blocks are still decoded, to stay in step with the client's
   * encoder; DATA is credited back so the client's connection window does
   * not shrink for nothing.
   */
  private refuse(type: number, streamId: number, flags: number, frame: Buffer): FrameVerdict {
    const { parts, connection } = this;
    if (type === FrameType.HEADERS) {
      this.blockOpensStream = parts.limits.clientOpened(streamId);
      if (connection.state() !== 'unavailable') this.withheldBlock = true;
      this.onBlock(parts.requestBlocks.start(streamId, flags, frame, type));
    } else if (type === FrameType.CONTINUATION) {
      this.onBlock(parts.requestBlocks.continue(flags, frame));
    } else if (type === FrameType.DATA) {
      const length = frame.length - FRAME_HEADER_LENGTH;
      if (!connection.blind()) parts.owned.clientDataDropped(length);
      else if (length > 0) parts.toClient.inject(windowUpdateFrame(0, length));
    }
    return FrameVerdict.Drop;
  }

  /** A request header block frame goes on as it came, unless tracing holds it for re-encoding. */
  private blockFrameFate(flags: number, frame: Buffer): FrameVerdict {
    const reparenting = this.parts.reparenting;
    if (this.connection.state() !== 'relaying') {
      reparenting.forget();
      return FrameVerdict.Forward;
    }
    const fate = reparenting.frameFate(flags, frame, !this.connection.blind());
    if (fate !== 'cut') return fate;
    this.connection.destroy();
    return FrameVerdict.Drop;
  }

  /** A request header block that has been read: a new call (or request trailers), judged, re-parented or answered. */
  private onBlock(block: HeaderBlock | undefined): void {
    const { parts, connection } = this;
    if (block === undefined || !parts.limits.relays(block.streamId)) return;
    // Only a block that opens its stream is a new call: trailers on a stream whose call criscope already ended (answered it, say) are
    // not, and neither is a stream opened past the runtime's GOAWAY, which it will not process, unless a policy is in force: then it
    // is judged all the same, so nothing the policy denies reaches a runtime that processes it anyway.
    const opensCall = this.blockOpensStream && (parts.limits.runtimeMayProcess(block.streamId) || parts.tracking.gate.inForce);
    const call = opensCall ? parts.calls.requestHeaders(block.streamId, block.fields) : undefined;
    if (call === undefined && parts.owned.waitsOn(block.streamId)) {
      // Request trailers would overtake the held message: no gRPC client sends them, so this one is cut off.
      connection.close('criscope: request trailers on a call being judged');
      return;
    }
    const { gate } = parts.tracking;
    if (call !== undefined && connection.state() === 'relaying') {
      const refusal = gate.refuses(call.path);
      if (refusal !== undefined) parts.held.refuse(block.streamId, call, refusal, block.endStream);
      else if (call.judgedAs !== undefined && !block.endStream && gate.holds(call.judgedAs)) call.held = parts.held.hold(block.streamId);
    }
    if (connection.state() === 'relaying') {
      try {
        parts.reparenting.reparent(block, call);
      } catch (error) {
        // Never half a block: without a replacement, the held frames go on as they came (or the connection ends).
        parts.reparenting.keepOriginal();
        parts.log.error({ err: error }, 'could not re-parent a request');
      }
    }
    if (connection.state() === 'unavailable') connection.callWhileUnavailable(block.streamId, parts.calls.get(block.streamId));
  }
}
