/**
 * The few HTTP/2 (RFC 9113) wire facts a frame-level relay needs: the frame
 * header, the flags it reads, and builders for the handful of frames criscope
 * writes itself (its own answers, credits for frames it drops, GOAWAY).
 */

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LENGTH = 9;

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
  CANCEL: 0x8,
} as const;

/** The bytes of a frame's payload that carry content, without padding (and, for HEADERS, priority fields). */
export function framePayload(frame: Buffer, type: number, flags: number): Buffer {
  let start = FRAME_HEADER_LENGTH;
  let end = frame.length;
  if ((flags & Flag.PADDED) !== 0 && (type === FrameType.DATA || type === FrameType.HEADERS)) {
    const padLength = frame[start] as number;
    start += 1;
    end -= padLength;
  }
  if (type === FrameType.HEADERS && (flags & Flag.PRIORITY) !== 0) start += 5;
  if (end < start) throw new RangeError('frame padding is longer than its payload');
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
