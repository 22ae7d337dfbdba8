import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FramePump, FrameVerdict } from '../../src/relay/frame-pump.js';
import { ConnectionFrameRules } from '../../src/relay/frame-rule-state.js';
import { HeaderBlockReader } from '../../src/relay/header-blocks.js';
import { Flag, Setting } from '../../src/relay/http2-frames.js';
import { OwnedStreams } from '../../src/relay/owned-streams.js';
import { clientSettings, runtimeSettings, type SettingsParties } from '../../src/relay/settings-exchange.js';
import { SETTINGS_ACK as ACK, settings } from '../support/test-frames.js';

const INITIAL_WINDOW_SIZE = 0x4;


function pump(): FramePump {
  const ignore = (): void => undefined;
  return new FramePump(undefined, { onFrame: () => FrameVerdict.Forward, onUnreadable: ignore, onViolation: ignore, onOversized: ignore }, new ConnectionFrameRules().fromClient);
}

function parties(): SettingsParties {
  const ignore = (): void => undefined;
  const owned = new OwnedStreams({ relaying: () => true, runtimeMaxFrameSize: () => 16_384, toRuntime: ignore, toClient: ignore, rejectClient: ignore, resetCall: ignore });
  return { toClient: pump(), toRuntime: pump(), requestBlocks: new HeaderBlockReader(ignore), responseBlocks: new HeaderBlockReader(ignore), owned };
}

describe('what each peer SETTINGS change, and when (RFC 9113 §6.5.3)', () => {
  it("binds the runtime's frames by the client's frame size and table size: raised at once, lowered from the runtime's ACK", () => {
    const { toClient, responseBlocks, ...rest } = parties();
    const all = { toClient, responseBlocks, ...rest };
    clientSettings(all, 0, settings([Setting.MAX_FRAME_SIZE, 65_536], [Setting.HEADER_TABLE_SIZE, 8192]));
    assert.equal(toClient.maxFrameSize, 65_536, "criscope's own frames to the client keep to it at once");
    assert.equal(toClient.acceptedFrameSize.allowed, 65_536);
    assert.equal(responseBlocks.decoder.tableSizeLimit.allowed, 8192);
    clientSettings(all, 0, settings([Setting.MAX_FRAME_SIZE, 16_384], [Setting.HEADER_TABLE_SIZE, 0]));
    assert.equal(toClient.acceptedFrameSize.allowed, 65_536, 'the runtime may still send by the old limits');
    assert.equal(responseBlocks.decoder.tableSizeLimit.allowed, 8192);
    runtimeSettings(all, Flag.ACK, ACK);
    runtimeSettings(all, Flag.ACK, ACK);
    assert.equal(toClient.acceptedFrameSize.allowed, 16_384, 'from its ACK of the lowered values, no longer');
    assert.equal(responseBlocks.decoder.tableSizeLimit.allowed, 0);
  });

  it("binds the client's frames by the runtime's, the same way, and counts its ACKs in order", () => {
    const all = parties();
    runtimeSettings(all, 0, settings([Setting.MAX_FRAME_SIZE, 32_768]));
    runtimeSettings(all, 0, settings([INITIAL_WINDOW_SIZE, 1000]));
    runtimeSettings(all, 0, settings([Setting.MAX_FRAME_SIZE, 16_384]));
    assert.equal(all.toRuntime.maxFrameSize, 16_384, 'criscope sends by the newest value');
    assert.equal(all.toRuntime.acceptedFrameSize.allowed, 32_768);
    clientSettings(all, Flag.ACK, ACK);
    clientSettings(all, Flag.ACK, ACK);
    assert.equal(all.toRuntime.acceptedFrameSize.allowed, 32_768, 'two ACKs answer the first two SETTINGS only');
    clientSettings(all, Flag.ACK, ACK);
    assert.equal(all.toRuntime.acceptedFrameSize.allowed, 16_384);
  });
});
