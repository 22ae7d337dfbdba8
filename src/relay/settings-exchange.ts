import type { FramePump } from './frame-pump.js';
import type { HeaderBlockReader } from './header-blocks.js';
import type { OwnedStreams } from './owned-streams.js';
import { Flag, Setting, forEachSetting } from './http2-frames.js';

const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;

/** The parts of a relayed connection whose reading or writing a peer's SETTINGS change. */
export interface SettingsParties {
  /** Writes to the client: the client's MAX_FRAME_SIZE bounds it. */
  readonly toClient: FramePump;
  /** Writes to the runtime: the runtime's MAX_FRAME_SIZE bounds it. */
  readonly toRuntime: FramePump;
  /** Mirrors the client's encoder, whose table the runtime's HEADER_TABLE_SIZE bounds. */
  readonly requestBlocks: HeaderBlockReader;
  /** Mirrors the runtime's encoder, whose table the client's HEADER_TABLE_SIZE bounds. */
  readonly responseBlocks: HeaderBlockReader;
  /** Sends on held streams by the runtime's INITIAL_WINDOW_SIZE. */
  readonly owned: OwnedStreams;
}

/**
 * A SETTINGS frame from the client, as it is relayed. A peer's settings bind
 * what is sent to it: the sender applies them on receipt, and the peer that
 * sent them may rely on them once it has the ACK (RFC 9113 §6.5.3). So a
 * raised limit (frame size, table size) holds for the runtime's frames at
 * once and a lowered one from the runtime's ACK on; criscope's own frames to
 * the client keep to the new value at once. The client's ACK of the
 * runtime's SETTINGS says when the client sends by those.
 */
export function clientSettings(parties: SettingsParties, flags: number, frame: Buffer): void {
  if ((flags & Flag.ACK) !== 0) {
    parties.owned.clientAckedSettings();
    parties.requestBlocks.decoder.tableSizeLimit.acknowledged();
    parties.toRuntime.acceptedFrameSize.acknowledged();
    return;
  }
  let headerTableSize: number | undefined;
  let maxFrameSize: number | undefined;
  forEachSetting(frame, (id, value) => {
    if (id === Setting.MAX_FRAME_SIZE) maxFrameSize = value;
    else if (id === Setting.HEADER_TABLE_SIZE) headerTableSize = value;
  });
  if (maxFrameSize !== undefined) parties.toClient.maxFrameSize = maxFrameSize;
  parties.toClient.acceptedFrameSize.sent(maxFrameSize);
  parties.responseBlocks.decoder.tableSizeLimit.sent(headerTableSize);
}

/** A SETTINGS frame from the runtime, as it is relayed: the mirror of clientSettings. */
export function runtimeSettings(parties: SettingsParties, flags: number, frame: Buffer): void {
  if ((flags & Flag.ACK) !== 0) {
    parties.responseBlocks.decoder.tableSizeLimit.acknowledged();
    parties.toClient.acceptedFrameSize.acknowledged();
    return;
  }
  let headerTableSize: number | undefined;
  let maxFrameSize: number | undefined;
  let initialWindow: number | undefined;
  forEachSetting(frame, (id, value) => {
    if (id === Setting.MAX_FRAME_SIZE) maxFrameSize = value;
    else if (id === Setting.HEADER_TABLE_SIZE) headerTableSize = value;
    else if (id === SETTINGS_INITIAL_WINDOW_SIZE) initialWindow = value;
  });
  // criscope sends by the runtime's value at once, as any sender does; the client may keep to the old one until its ACK.
  if (maxFrameSize !== undefined) parties.toRuntime.maxFrameSize = maxFrameSize;
  parties.toRuntime.acceptedFrameSize.sent(maxFrameSize);
  parties.requestBlocks.decoder.tableSizeLimit.sent(headerTableSize);
  parties.owned.runtimeSettings(initialWindow);
}
