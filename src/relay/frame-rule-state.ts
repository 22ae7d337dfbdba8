import { frameViolation, type ConnectionFacts, type FrameJudge, type Sender, type Violation } from './frame-rules.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, Setting, promisedStreamId } from './http2-frames.js';

/**
 * What frame-rules needs to remember of one connection, from the frames that
 * broke no rule: who has spoken, open header blocks, the highest stream each
 * side opened, and whether the client's "no push" has been acknowledged.
 */
export class FrameRuleState implements ConnectionFacts {
  highestClientStream = 0;
  highestPromisedStream = 0;
  private clientSpoke = false;
  private serverSpoke = false;
  private clientBlock = 0;
  private serverBlock = 0;
  private clientSettingsSent = 0;
  private clientSettingsAcknowledged = 0;
  /** The client's latest SETTINGS_ENABLE_PUSH (1 until it says otherwise), and which of its SETTINGS frames carried it. */
  private clientEnablePush = 1;
  private clientEnablePushFrame = 0;

  hasSpoken(sender: Sender): boolean {
    return sender === 'client' ? this.clientSpoke : this.serverSpoke;
  }

  openHeaderBlock(sender: Sender): number {
    return sender === 'client' ? this.clientBlock : this.serverBlock;
  }

  /** SETTINGS frames are acknowledged in order (§6.5.3), so the count of acknowledgments says which took effect. */
  get pushDisabled(): boolean {
    return this.clientEnablePush === 0 && this.clientSettingsAcknowledged >= this.clientEnablePushFrame;
  }

  /** Takes note of a frame that broke no rule. */
  record(sender: Sender, type: number, flags: number, streamId: number, frame: Buffer): void {
    if (sender === 'client') this.clientSpoke = true;
    else this.serverSpoke = true;
    switch (type) {
      case FrameType.HEADERS:
        if (sender === 'client' && streamId > this.highestClientStream) this.highestClientStream = streamId;
        this.setBlock(sender, (flags & Flag.END_HEADERS) === 0 ? streamId : 0);
        break;
      case FrameType.PUSH_PROMISE:
        this.highestPromisedStream = promisedStreamId(frame, flags);
        this.setBlock(sender, (flags & Flag.END_HEADERS) === 0 ? streamId : 0);
        break;
      case FrameType.CONTINUATION:
        if ((flags & Flag.END_HEADERS) !== 0) this.setBlock(sender, 0);
        break;
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) !== 0) {
          if (sender === 'server') this.clientSettingsAcknowledged += 1;
        } else if (sender === 'client') {
          this.clientSettingsSent += 1;
          this.noteEnablePush(frame);
        }
        break;
      default:
        break;
    }
  }

  private setBlock(sender: Sender, streamId: number): void {
    if (sender === 'client') this.clientBlock = streamId;
    else this.serverBlock = streamId;
  }

  private noteEnablePush(frame: Buffer): void {
    for (let offset = FRAME_HEADER_LENGTH; offset + 6 <= frame.length; offset += 6) {
      if (frame.readUInt16BE(offset) !== Setting.ENABLE_PUSH) continue;
      this.clientEnablePush = frame.readUInt32BE(offset + 2);
      this.clientEnablePushFrame = this.clientSettingsSent;
    }
  }
}

/** The rules for both directions of one connection, sharing what they remember. */
export class ConnectionFrameRules {
  private readonly state = new FrameRuleState();
  readonly fromClient: FrameJudge = { judge: (type, flags, streamId, frame) => this.judge('client', type, flags, streamId, frame) };
  readonly fromServer: FrameJudge = { judge: (type, flags, streamId, frame) => this.judge('server', type, flags, streamId, frame) };

  private judge(sender: Sender, type: number, flags: number, streamId: number, frame: Buffer): Violation | undefined {
    const violation = frameViolation(sender, type, flags, streamId, frame, this.state);
    if (violation === undefined) this.state.record(sender, type, flags, streamId, frame);
    return violation;
  }
}
