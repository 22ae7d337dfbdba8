/**
 * The few HTTP/2 (RFC 9113) wire facts a frame-level relay needs: the frame
 * header, the flags it reads, and builders for the handful of frames criscope
 * writes itself (its own answers, credits for frames it drops, GOAWAY).
 */

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LENGTH = 9;
/** SETTINGS_MAX_FRAME_SIZE until a peer says otherwise. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
} as const;

/** The largest SETTINGS_MAX_FRAME_SIZE a peer may announce (RFC 9113 §4.2). */
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
/** The largest flow-control window (RFC 9113 §6.9.1). */
export const MAX_WINDOW_SIZE = 0x7fffffff;

/** Calls `each` with every (identifier, value) of a well-formed SETTINGS frame. */
export function forEachSetting(frame: Buffer, each: (id: number, value: number) => void): void {
  for (let offset = FRAME_HEADER_LENGTH; offset + 6 <= frame.length; offset += 6) each(frame.readUInt16BE(offset), frame.readUInt32BE(offset + 2));
}

/** The stream a well-formed PUSH_PROMISE reserves (see frame-rules). */
export function promisedStreamId(frame: Buffer, flags: number): number {
  const at = FRAME_HEADER_LENGTH + ((flags & Flag.PADDED) !== 0 ? 1 : 0);
  return frame.readUInt32BE(at) & 0x7fffffff;
}

/**
 * The content of a well-formed frame's payload (see frame-rules): without
 * padding, HEADERS' priority fields or PUSH_PROMISE's promised stream id.
 */
export function framePayload(frame: Buffer, type: number, flags: number): Buffer {
  let start = FRAME_HEADER_LENGTH;
  let end = frame.length;
  if ((flags & Flag.PADDED) !== 0 && type !== FrameType.CONTINUATION) {
    end -= frame[start];
    start += 1;
  }
  if (type === FrameType.HEADERS && (flags & Flag.PRIORITY) !== 0) start += 5;
  if (type === FrameType.PUSH_PROMISE) start += 4;
  return frame.subarray(start, end);
}

/** Writes a frame header at the start of `frame`, for a payload of `length` octets that follows it. */
export function writeFrameHeader(frame: Buffer, length: number, type: number, flags: number, streamId: number): void {
  frame.writeUIntBE(length, 0, 3);
  frame[3] = type;
  frame[4] = flags;
  frame.writeUInt32BE(streamId & 0x7fffffff, 5);
}

export function buildFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payload.length);
  writeFrameHeader(frame, payload.length, type, flags, streamId);
  payload.copy(frame, FRAME_HEADER_LENGTH);
  return frame;
}

function uint32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  return buildFrame(FrameType.RST_STREAM, 0, streamId, uint32(code));
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  return buildFrame(FrameType.WINDOW_UPDATE, 0, streamId, uint32(increment & 0x7fffffff));
}

export function goawayFrame(lastStreamId: number, code: number, debugText = ''): Buffer {
  return buildFrame(FrameType.GOAWAY, 0, 0, Buffer.concat([uint32(lastStreamId & 0x7fffffff), uint32(code), Buffer.from(debugText, 'utf8')]));
}

export function settingsFrame(ack: boolean): Buffer {
  return buildFrame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, Buffer.alloc(0));
}

export function pingAckFrame(opaque: Buffer): Buffer {
  return buildFrame(FrameType.PING, Flag.ACK, 0, opaque);
}

/** A complete header block in one HEADERS frame. */
export function headersFrame(streamId: number, block: Buffer, endStream: boolean): Buffer {
  return buildFrame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
}

/**
 * A header block as one HEADERS frame and as many CONTINUATION frames as the
 * receiver's SETTINGS_MAX_FRAME_SIZE requires, concatenated (a block's frames
 * must go out back to back anyway).
 */
export function headerBlockFrames(streamId: number, block: Buffer, endStream: boolean, maxFrameSize: number): Buffer {
  if (block.length <= maxFrameSize) return headersFrame(streamId, block, endStream);
  const frames: Buffer[] = [];
  for (let offset = 0; offset < block.length; offset += maxFrameSize) {
    const last = offset + maxFrameSize >= block.length;
    const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (offset === 0 && endStream ? Flag.END_STREAM : 0);
    frames.push(buildFrame(type, flags, streamId, block.subarray(offset, offset + maxFrameSize)));
  }
  return Buffer.concat(frames);
}

/** `payload` as DATA frames no larger than the receiver's SETTINGS_MAX_FRAME_SIZE, concatenated; END_STREAM on the last. */
export function dataFrames(streamId: number, payload: Buffer, endStream: boolean, maxFrameSize: number): Buffer {
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + maxFrameSize, payload.length);
    frames.push(buildFrame(FrameType.DATA, end === payload.length && endStream ? Flag.END_STREAM : 0, streamId, payload.subarray(offset, end)));
    offset = end;
  } while (offset < payload.length);
  return Buffer.concat(frames);
}
