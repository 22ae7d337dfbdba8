import { FrameVerdict } from './frame-pump.js';
import type { HeaderBlock } from './header-blocks.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, framePayload, windowUpdateFrame } from './http2-frames.js';
import type { RelayLifecycle, RelayParts } from './relay-parts.js';
import { runtimeSettings } from './settings-exchange.js';
import { Http2ErrorCode } from '../wire-codes.js';

/**
 * What criscope does with each frame the runtime sends toward the client:
 * all go on as they came, read on the way (response headers, messages,
 * trailers, resets), except what belongs to a stream criscope answered
 * itself, and credit the runtime gives for DATA criscope holds.
 */
export class RuntimeFrames {
  constructor(
    private readonly parts: RelayParts,
    private readonly connection: RelayLifecycle,
  ) {}

  readonly onFrame = (type: number, flags: number, streamId: number, frame: Buffer): FrameVerdict => {
    const { parts } = this;
    // What criscope owes the client is written after this frame (injected frames wait for the one being relayed).
    parts.answers.runtimeSpeaks();
    switch (type) {
      case FrameType.HEADERS: {
        // Asked first: reading a block that ends the stream forgets it.
        const endedForClient = parts.answers.answeredStream(streamId);
        const block = parts.responseBlocks.start(streamId, flags, frame, type);
        this.onBlock(block);
        // On a stream criscope ended for the client, a block whole in this frame that left the HPACK table as it was goes no further
        // (§5.1); any other block must reach the client, whose table would otherwise part from the runtime's.
        return endedForClient && block !== undefined && !block.changedTable ? FrameVerdict.Drop : FrameVerdict.Forward;
      }
      case FrameType.PUSH_PROMISE:
        // Relayed, to keep the client's HPACK state (the frame rules have already judged a push the client did not allow).
        this.onBlock(parts.responseBlocks.start(streamId, flags, frame, type));
        return FrameVerdict.Forward;
      case FrameType.CONTINUATION:
        this.onBlock(parts.responseBlocks.continue(flags, frame));
        return FrameVerdict.Forward;
      case FrameType.DATA:
        return this.onData(streamId, flags, frame);
      case FrameType.RST_STREAM:
        parts.owned.streamReset(streamId);
        if (parts.answers.streamEnded(streamId)) return FrameVerdict.Drop;
        parts.calls.reset(streamId, frame.readUInt32BE(FRAME_HEADER_LENGTH));
        return FrameVerdict.Forward;
      case FrameType.SETTINGS:
        runtimeSettings(parts.settings, flags, frame);
        return FrameVerdict.Forward;
      case FrameType.GOAWAY:
        return this.onGoaway(frame);
      case FrameType.WINDOW_UPDATE:
        return this.connection.blind() ? FrameVerdict.Forward : parts.owned.runtimeWindowUpdate(streamId, frame);
      default:
        return FrameVerdict.Forward;
    }
  };

  private onData(streamId: number, flags: number, frame: Buffer): FrameVerdict {
    const { parts } = this;
    if (parts.answers.answeredStream(streamId)) {
      if ((flags & Flag.END_STREAM) !== 0) parts.answers.streamEnded(streamId);
      // Its connection credit is the runtime's again.
      const length = frame.length - FRAME_HEADER_LENGTH;
      if (length > 0) parts.toRuntime.inject(windowUpdateFrame(0, length));
      return FrameVerdict.Drop;
    }
    const call = parts.calls.get(streamId);
    if (call !== undefined) {
      call.responseScanner.push(framePayload(frame, FrameType.DATA, flags));
      if ((flags & Flag.END_STREAM) !== 0) parts.calls.responseEnded(streamId);
    }
    return FrameVerdict.Forward;
  }

  private onBlock(block: HeaderBlock | undefined): void {
    const { parts } = this;
    if (block === undefined || block.promise) return;
    if (parts.answers.answeredStream(block.streamId)) {
      if (block.endStream) parts.answers.streamEnded(block.streamId);
      return;
    }
    parts.calls.responseHeaders(block.streamId, block.fields, block.endStream);
  }

  /**
   * Streams above the runtime's GOAWAY were never processed: the client
   * retries them elsewhere. The GOAWAY goes on as it came, unless criscope's
   * own drain already told the client a lower last-stream-id.
   */
  private onGoaway(frame: Buffer): FrameVerdict {
    const { parts } = this;
    const lastStreamId = frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff;
    const forClient = parts.limits.runtimeGoaway(lastStreamId);
    parts.owned.runtimeGoaway(lastStreamId);
    for (const [streamId] of parts.calls.entries()) {
      if (streamId > lastStreamId) parts.calls.reset(streamId, Http2ErrorCode.REFUSED_STREAM);
    }
    if (forClient === lastStreamId) return FrameVerdict.Forward;
    const lowered = Buffer.from(frame);
    lowered.writeUInt32BE(forClient, FRAME_HEADER_LENGTH);
    parts.toClient.inject(lowered);
    return FrameVerdict.Drop;
  }
}
