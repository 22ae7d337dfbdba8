/**
 * The RFC 9113 rules a frame relay can check from a frame's header and a few
 * facts about its connection, without following every stream's state: frames
 * on the wrong stream, of the wrong size, padding past the payload, frames
 * inside another's header block, streams used before they were opened, and
 * settings out of range. Frame types and settings it does not know pass
 * (§4.1, §5.5, §6.5.2). Checking a valid frame allocates nothing. (A frame
 * longer than the receiver's SETTINGS_MAX_FRAME_SIZE is FramePump's to stop,
 * before it is buffered.)
 */
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, Flag, FrameType, MAX_ALLOWED_FRAME_SIZE, MAX_WINDOW_SIZE, Setting, promisedStreamId } from './http2-frames.js';
import { Http2ErrorCode } from '../wire-codes.js';

/** Which peer sent a frame. */
export type Sender = 'client' | 'server';

/** A frame that breaks RFC 9113, with the answer its receiver owes. */
export interface Violation {
  /** The error code (RFC 9113 §7) for the GOAWAY or RST_STREAM. */
  readonly code: number;
  /** What is wrong, with the RFC section that says so. */
  readonly reason: string;
  /** A connection error ends the connection (§5.4.1); a stream error resets the frame's stream (§5.4.2). */
  readonly scope: 'connection' | 'stream';
}

/** What the rules need to know of the connection so far (kept by FrameRuleState). */
export interface ConnectionFacts {
  /** Whether this peer has sent a frame yet: its first must be SETTINGS. */
  hasSpoken(sender: Sender): boolean;
  /** The stream whose header block this peer has begun and not ended, or 0. */
  openHeaderBlock(sender: Sender): number;
  /** The highest stream the client has opened (client streams are odd). */
  readonly highestClientStream: number;
  /** The highest stream the server has reserved with PUSH_PROMISE (server streams are even). */
  readonly highestPromisedStream: number;
  /** True once the server has acknowledged the client's SETTINGS_ENABLE_PUSH of 0. */
  readonly pushDisabled: boolean;
}

/** Judges the frames of one direction of a connection, remembering what it must. */
export interface FrameJudge {
  judge(type: number, flags: number, streamId: number, frame: Buffer): Violation | undefined;
}

const FRAME_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
/** The section of RFC 9113 that defines each frame type. */
const FRAME_SECTIONS = ['6.1', '6.2', '6.3', '6.4', '6.5', '6.6', '6.7', '6.8', '6.9', '6.10'];

/** Where each frame type may appear: on a stream, only on stream 0, or either (WINDOW_UPDATE; unknown types too). */
const ON_A_STREAM = 1;
const ON_STREAM_ZERO = 2;
const EITHER = 0;
const STREAM_PLACE = [ON_A_STREAM, ON_A_STREAM, ON_A_STREAM, ON_A_STREAM, ON_STREAM_ZERO, ON_A_STREAM, ON_STREAM_ZERO, ON_STREAM_ZERO, EITHER, ON_A_STREAM];

function frameName(type: number): string {
  return FRAME_NAMES[type] ?? `frame type 0x${type.toString(16)}`;
}

function connectionError(code: number, reason: string): Violation {
  return { code, reason, scope: 'connection' };
}

/** A stream that has not been opened (nor reserved) yet: only HEADERS and PRIORITY may name one (§5.1). */
function isIdle(streamId: number, facts: ConnectionFacts): boolean {
  return (streamId & 1) === 1 ? streamId > facts.highestClientStream : streamId > facts.highestPromisedStream;
}

/**
 * The first rule of RFC 9113 that `frame` (whole, header included) breaks,
 * given what `facts` knows of the connection; undefined when it breaks none
 * this module checks. Connection errors come before stream errors, as a frame
 * that causes one must report it (§5.4).
 */
export function frameViolation(sender: Sender, type: number, flags: number, streamId: number, frame: Buffer, facts: ConnectionFacts): Violation | undefined {
  if (!facts.hasSpoken(sender) && (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `the ${sender}'s first frame is ${frameName(type)}, not SETTINGS (RFC 9113 §3.4)`);
  }
  const place = STREAM_PLACE[type];
  if (place === ON_A_STREAM && streamId === 0) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `${frameName(type)} on stream 0 (RFC 9113 §${FRAME_SECTIONS[type]})`);
  }
  if (place === ON_STREAM_ZERO && streamId !== 0) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `${frameName(type)} on stream ${streamId}, not 0 (RFC 9113 §${FRAME_SECTIONS[type]})`);
  }
  const block = facts.openHeaderBlock(sender);
  if (block !== 0 && (type !== FrameType.CONTINUATION || streamId !== block)) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `${frameName(type)} on stream ${streamId} inside the header block of stream ${block} (RFC 9113 §4.3, §6.10)`);
  }
  const length = frame.length - FRAME_HEADER_LENGTH;
  switch (type) {
    case FrameType.DATA:
      return paddingViolation(type, flags, frame, 0) ?? idleStreamViolation(type, streamId, facts);
    case FrameType.HEADERS:
      return paddingViolation(type, flags, frame, (flags & Flag.PRIORITY) !== 0 ? 5 : 0) ?? headersStreamViolation(sender, streamId, facts);
    case FrameType.PRIORITY:
      return length === 5 ? undefined : priorityLengthViolation(streamId, length, facts);
    case FrameType.RST_STREAM:
      if (length !== 4) return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `RST_STREAM with a ${length}-byte payload (RFC 9113 §6.4)`);
      return idleStreamViolation(type, streamId, facts);
    case FrameType.SETTINGS:
      if ((flags & Flag.ACK) !== 0 && length !== 0) return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `a SETTINGS acknowledgment with a ${length}-byte payload (RFC 9113 §6.5)`);
      if (length % 6 !== 0) return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `SETTINGS with a ${length}-byte payload, not a multiple of 6 (RFC 9113 §6.5)`);
      return settingsViolation(sender, frame);
    case FrameType.PUSH_PROMISE:
      return pushPromiseViolation(sender, flags, streamId, frame, facts);
    case FrameType.PING:
      return length === 8 ? undefined : connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `PING with a ${length}-byte payload (RFC 9113 §6.7)`);
    case FrameType.GOAWAY:
      return length >= 8 ? undefined : connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `GOAWAY with a ${length}-byte payload, too short for its fields (RFC 9113 §4.2, §6.8)`);
    case FrameType.WINDOW_UPDATE:
      return windowUpdateViolation(streamId, frame, facts);
    case FrameType.CONTINUATION:
      return block === 0 ? connectionError(Http2ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without a header block to continue (RFC 9113 §6.10)`) : undefined;
    default:
      // Frames of unknown types are ignored (§4.1, §5.5), outside header blocks.
      return undefined;
  }
}

/**
 * DATA, HEADERS and PUSH_PROMISE: the payload must hold the pad length and
 * `fields` bytes of fixed fields (§4.2), and the padding must fit in what is
 * left (§6.1, §6.2, §6.6).
 */
function paddingViolation(type: number, flags: number, frame: Buffer, fields: number): Violation | undefined {
  const length = frame.length - FRAME_HEADER_LENGTH;
  const padded = (flags & Flag.PADDED) !== 0;
  const prefix = fields + (padded ? 1 : 0);
  if (length < prefix) {
    return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `${frameName(type)} with a ${length}-byte payload, too short for its ${prefix} bytes of fixed fields (RFC 9113 §4.2)`);
  }
  const padding = padded ? frame[FRAME_HEADER_LENGTH] : 0;
  if (padding > length - prefix) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `${frameName(type)} with ${padding} bytes of padding in a ${length}-byte payload (RFC 9113 §${FRAME_SECTIONS[type]})`);
  }
  return undefined;
}

function idleStreamViolation(type: number, streamId: number, facts: ConnectionFacts): Violation | undefined {
  if (!isIdle(streamId, facts)) return undefined;
  return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `${frameName(type)} on stream ${streamId}, which is idle (RFC 9113 §5.1)`);
}

/** A client opens odd streams (§5.1.1); a server sends HEADERS only on streams the client opened or it reserved (§5.1, §5.1.1). */
function headersStreamViolation(sender: Sender, streamId: number, facts: ConnectionFacts): Violation | undefined {
  if (sender === 'client') {
    return (streamId & 1) === 1 ? undefined : connectionError(Http2ErrorCode.PROTOCOL_ERROR, `the client's HEADERS on even stream ${streamId} (RFC 9113 §5.1.1)`);
  }
  if (!isIdle(streamId, facts)) return undefined;
  return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `the server's HEADERS on stream ${streamId}, which neither the client opened nor the server reserved (RFC 9113 §5.1, §5.1.1)`);
}

/**
 * A stream error (§6.3), except on an idle stream: RST_STREAM may not name
 * one (§6.4), so the connection ends instead (§5.4.1 allows it).
 */
function priorityLengthViolation(streamId: number, length: number, facts: ConnectionFacts): Violation {
  const reason = `PRIORITY with a ${length}-byte payload (RFC 9113 §6.3)`;
  if (isIdle(streamId, facts)) return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `${reason} on idle stream ${streamId}, which no RST_STREAM may name (§6.4)`);
  return { code: Http2ErrorCode.FRAME_SIZE_ERROR, reason, scope: 'stream' };
}

function settingsViolation(sender: Sender, frame: Buffer): Violation | undefined {
  for (let offset = FRAME_HEADER_LENGTH; offset + 6 <= frame.length; offset += 6) {
    const value = frame.readUInt32BE(offset + 2);
    switch (frame.readUInt16BE(offset)) {
      case Setting.ENABLE_PUSH:
        if (value > 1) return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH of ${value}, not 0 or 1 (RFC 9113 §6.5.2)`);
        if (value === 1 && sender === 'server') return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `the server's SETTINGS_ENABLE_PUSH of 1 (RFC 9113 §6.5.2)`);
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW_SIZE) return connectionError(Http2ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE of ${value}, over 2^31-1 (RFC 9113 §6.5.2)`);
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
          return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE of ${value}, outside 16384..16777215 (RFC 9113 §6.5.2)`);
        }
        break;
      default:
        // Unknown settings are ignored (§6.5.2).
        break;
    }
  }
  return undefined;
}

/**
 * Only a server pushes (§8.4), unless the client has disabled it (§6.6), on a
 * stream the client opened, reserving an even stream above any it reserved
 * before (§5.1.1, §6.6).
 */
function pushPromiseViolation(sender: Sender, flags: number, streamId: number, frame: Buffer, facts: ConnectionFacts): Violation | undefined {
  if (sender === 'client') return connectionError(Http2ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from the client (RFC 9113 §8.4)');
  const malformed = paddingViolation(FrameType.PUSH_PROMISE, flags, frame, 4);
  if (malformed !== undefined) return malformed;
  if (facts.pushDisabled) return connectionError(Http2ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE after the client disabled push and the server acknowledged it (RFC 9113 §6.6)');
  if ((streamId & 1) === 0 || isIdle(streamId, facts)) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `PUSH_PROMISE on stream ${streamId}, which the client has not opened (RFC 9113 §6.6)`);
  }
  const promised = promisedStreamId(frame, flags);
  if ((promised & 1) === 1 || promised <= facts.highestPromisedStream) {
    return connectionError(Http2ErrorCode.PROTOCOL_ERROR, `PUSH_PROMISE reserving stream ${promised}, not a new even stream (RFC 9113 §5.1.1, §6.6)`);
  }
  return undefined;
}

/** The increment must not be 0: a stream error on a stream, a connection error on the connection (§6.9). */
function windowUpdateViolation(streamId: number, frame: Buffer, facts: ConnectionFacts): Violation | undefined {
  const length = frame.length - FRAME_HEADER_LENGTH;
  if (length !== 4) return connectionError(Http2ErrorCode.FRAME_SIZE_ERROR, `WINDOW_UPDATE with a ${length}-byte payload (RFC 9113 §6.9)`);
  const idle = streamId === 0 ? undefined : idleStreamViolation(FrameType.WINDOW_UPDATE, streamId, facts);
  if (idle !== undefined) return idle;
  if ((frame.readUInt32BE(FRAME_HEADER_LENGTH) & 0x7fffffff) !== 0) return undefined;
  const reason = `WINDOW_UPDATE with an increment of 0 on stream ${streamId} (RFC 9113 §6.9)`;
  return streamId === 0 ? connectionError(Http2ErrorCode.PROTOCOL_ERROR, reason) : { code: Http2ErrorCode.PROTOCOL_ERROR, reason, scope: 'stream' };
}
