import { buildFrame, Flag, FrameType } from '../../src/relay/http2-frames.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';

/** Builders for HTTP/2 frames as tests need them, malformed ones included (buildFrame checks nothing). */

export function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes;
}

export function settings(...entries: [number, number][]): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value >>> 0, index * 6 + 2);
  });
  return buildFrame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS = settings();
export const SETTINGS_ACK = buildFrame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0));
/** Any bytes do as a header block where nothing decodes it (:method GET, :scheme http, :path / in HPACK). */
export const SOME_BLOCK = Buffer.from([0x82, 0x86, 0x84]);

export const headers = (streamId: number, flags: number = Flag.END_HEADERS, payload: Buffer = SOME_BLOCK): Buffer => buildFrame(FrameType.HEADERS, flags, streamId, payload);
export const data = (streamId: number, flags = 0, payload: Buffer = Buffer.alloc(3)): Buffer => buildFrame(FrameType.DATA, flags, streamId, payload);
export const priority = (streamId: number, payload: Buffer = Buffer.alloc(5)): Buffer => buildFrame(FrameType.PRIORITY, 0, streamId, payload);
export const rstStream = (streamId: number, payload: Buffer = uint32(Http2ErrorCode.CANCEL)): Buffer => buildFrame(FrameType.RST_STREAM, 0, streamId, payload);
export const ping = (streamId = 0, payload: Buffer = Buffer.alloc(8), flags = 0): Buffer => buildFrame(FrameType.PING, flags, streamId, payload);
export const goaway = (streamId = 0, payload: Buffer = Buffer.alloc(8)): Buffer => buildFrame(FrameType.GOAWAY, 0, streamId, payload);
export const windowUpdate = (streamId: number, payload: Buffer = uint32(1024)): Buffer => buildFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
export const continuation = (streamId: number, flags: number = Flag.END_HEADERS, payload: Buffer = SOME_BLOCK): Buffer => buildFrame(FrameType.CONTINUATION, flags, streamId, payload);
export const pushPromise = (streamId: number, promised: number, flags: number = Flag.END_HEADERS): Buffer =>
  buildFrame(FrameType.PUSH_PROMISE, flags, streamId, Buffer.concat([uint32(promised), SOME_BLOCK]));
export const unknownFrame = (streamId = 0): Buffer => buildFrame(0xbb, 0, streamId, Buffer.alloc(3));

/** `frame` with the reserved bit before its stream id set (buildFrame clears it). */
export function withReservedBit(frame: Buffer): Buffer {
  frame[5] |= 0x80;
  return frame;
}

/** `block` as a HEADERS frame and CONTINUATIONs of the given fragment sizes (the rest in the last one). */
export function splitBlock(streamId: number, block: Buffer, sizes: number[], headersFlags = 0): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    const type = frames.length === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    frames.push(buildFrame(type, frames.length === 0 ? headersFlags : 0, streamId, block.subarray(offset, offset + size)));
    offset += size;
  }
  frames.push(buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, streamId, block.subarray(offset)));
  return frames;
}
