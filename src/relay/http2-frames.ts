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

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  MAX_FRAME_SIZE: 0x5,
} as const;

/** Fixed payload lengths, for the frame types that have one. */
const FIXED_LENGTH: Readonly<Record<number, number>> = {
  [FrameType.PRIORITY]: 5,
  [FrameType.RST_STREAM]: 4,
  [FrameType.PING]: 8,
  [FrameType.WINDOW_UPDATE]: 4,
};

/**
 * What makes a frame unreadable, or undefined for one criscope can parse
 * safely: the lengths its reads depend on. (Everything else about validity is
 * the receiving peer's to judge; criscope relays the frame either way.)
 */
export function frameProblem(type: number, flags: number, frame: Buffer): string | undefined {
  const length = frame.length - FRAME_HEADER_LENGTH;
  const fixed = FIXED_LENGTH[type];
  if (fixed !== undefined) return length === fixed ? undefined : `frame type ${type} with a ${length}-byte payload (must be ${fixed})`;
  switch (type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.PUSH_PROMISE: {
      const padded = (flags & Flag.PADDED) !== 0;
      let prefix = padded ? 1 : 0;
      if (type === FrameType.HEADERS && (flags & Flag.PRIORITY) !== 0) prefix += 5;
      if (type === FrameType.PUSH_PROMISE) prefix += 4;
      const padding = padded && length > 0 ? (frame[FRAME_HEADER_LENGTH]) : 0;
      return prefix + padding <= length ? undefined : `frame type ${type} whose padding and prefix (${prefix + padding} bytes) exceed its ${length}-byte payload`;
    }
    case FrameType.SETTINGS:
      return length % 6 === 0 && ((flags & Flag.ACK) === 0 || length === 0) ? undefined : `SETTINGS with a ${length}-byte payload`;
    case FrameType.GOAWAY:
      return length >= 8 ? undefined : `GOAWAY with a ${length}-byte payload`;
    default:
      return undefined;
  }
}

/** Calls `each` with every (identifier, value) of a well-formed SETTINGS frame. */
export function forEachSetting(frame: Buffer, each: (id: number, value: number) => void): void {
  for (let offset = FRAME_HEADER_LENGTH; offset + 6 <= frame.length; offset += 6) each(frame.readUInt16BE(offset), frame.readUInt32BE(offset + 2));
}

/**
 * The content of a well-formed frame's payload (see frameProblem): without
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

export function buildFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payload.length);
  frame.writeUIntBE(payload.length, 0, 3);
  frame[3] = type;
  frame[4] = flags;
  frame.writeUInt32BE(streamId & 0x7fffffff, 5);
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
