import type { FrameJudge, Violation } from './frame-rules.js';
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, Flag, FrameType } from './http2-frames.js';
import { SettingLimit } from './setting-limit.js';

/** Pieces of a chunk up to this size are joined into one buffer for their write; a copy this small costs less than a writev. */
const JOIN_UP_TO_BYTES = 16 * 1024;

/** What the pump should do with a frame it has shown to its handler. */
export const enum FrameVerdict {
  Forward = 0,
  Drop = 1,
}

/** Where a pump writes: a socket, in practice. */
export interface FrameSink {
  readonly destroyed: boolean;
  write(bytes: Buffer): boolean;
  /** Holds writes until uncork(), which sends them in one go (a socket's writev). */
  cork(): void;
  uncork(): void;
}

/** Sees each complete frame of one direction that breaks no rule of its judge; `frame` is the whole frame, header included. */
export type FrameHandler = (type: number, flags: number, streamId: number, frame: Buffer) => FrameVerdict;

export interface FramePumpEvents {
  readonly onFrame: FrameHandler;
  /** A frame whose handler threw, relayed all the same: from here on the pump's owner cannot trust its view of the connection. */
  readonly onUnreadable: (reason: string, cause: unknown) => void;
  /**
   * A frame that breaks RFC 9113: neither relayed nor shown to the handler.
   * After a connection error the pump stops; after a stream error it goes on.
   */
  readonly onViolation: (violation: Violation, streamId: number) => void;
  /** A frame longer than the receiver accepts: the connection must end; the pump stops. */
  readonly onOversized: (length: number, limit: number) => void;
}

/**
 * Moves the frames of one direction of a connection from a source socket to a
 * sink socket, unchanged and whole: a chunk is written as it came, up to its
 * last complete frame, so the sink always sits on a frame boundary and
 * criscope can slip its own frames in between. Frames a handler drops, and
 * frames that break RFC 9113 (as the pump's judge finds), are cut out. A
 * frame split across chunks is collected into one buffer of its own length,
 * so each of its bytes is copied once, and never more than the receiver's
 * SETTINGS_MAX_FRAME_SIZE is held.
 */
export class FramePump {
  /** The receiving peer's SETTINGS_MAX_FRAME_SIZE as it stands: criscope's own frames to it keep to this. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** The largest frame the sender may send now (it may still keep to a larger value the receiver has not seen acknowledged). */
  readonly acceptedFrameSize = new SettingLimit(DEFAULT_MAX_FRAME_SIZE);
  private partialHeader: Buffer | undefined;
  private partialFrame: Buffer | undefined;
  private partialFill = 0;
  private inHeaderBlock = false;
  private pushing = false;
  private stopped = false;
  private deferred: Buffer[] = [];
  private output: Buffer[] = [];
  private outputBytes = 0;

  constructor(
    private sink: FrameSink | undefined,
    private readonly events: FramePumpEvents,
    private readonly judge: FrameJudge,
  ) {}

  /** True between a HEADERS frame without END_HEADERS and the CONTINUATION that ends its block. */
  get insideHeaderBlock(): boolean {
    return this.inHeaderBlock;
  }

  /** True while a chunk is being pumped: frames injected now go out after the frames relayed from it. */
  get pumping(): boolean {
    return this.pushing;
  }

  /** Relays nothing more (the rest of a chunk being pumped included); what criscope injected is still written. */
  stop(): void {
    this.stopped = true;
  }

  /** Where frames go from now on; undefined discards them (criscope answers this side itself). */
  setSink(sink: FrameSink | undefined): void {
    // What the chunk being pumped has produced so far was meant for the sink it goes to now.
    if (this.pushing) this.flushOutput();
    this.sink = sink;
  }

  /** Returns false when the sink is full (or the pump stopped), so the caller pauses the source. */
  push(chunk: Buffer): boolean {
    if (this.stopped) return true;
    this.pushing = true;
    try {
      this.pushFrames(chunk);
    } finally {
      this.pushing = false;
    }
    // A pump that stopped still writes what its owner injected on the way (criscope's own answers).
    if (this.stopped && !this.inHeaderBlock) this.flushDeferred();
    return this.flushOutput() && !this.stopped;
  }

  private pushFrames(chunk: Buffer): void {
    let bytes = chunk;
    if (this.partialHeader !== undefined || this.partialFrame !== undefined) {
      const used = this.continuePartial(chunk);
      bytes = chunk.subarray(used);
      const frame = this.partialFrame;
      if (frame !== undefined && this.partialFill === frame.length) {
        this.partialFrame = undefined;
        this.relay(frame);
      }
    }
    if (!this.stopped && this.partialHeader === undefined && this.partialFrame === undefined) this.relay(bytes);
  }

  /**
   * Writes a frame of criscope's own at the next point where no header block is
   * open, and after the frames already relayed from the chunk being pumped.
   */
  inject(frame: Buffer): void {
    if (this.inHeaderBlock || this.pushing) this.deferred.push(frame);
    else this.write(frame);
  }

  /** Adds the start of `chunk` to the frame split across chunks; returns how many bytes it took. */
  private continuePartial(chunk: Buffer): number {
    let used = 0;
    if (this.partialHeader !== undefined) {
      const header = Buffer.concat([this.partialHeader, chunk.subarray(0, FRAME_HEADER_LENGTH - this.partialHeader.length)]);
      used = header.length - this.partialHeader.length;
      if (header.length < FRAME_HEADER_LENGTH) {
        this.partialHeader = header;
        return used;
      }
      this.partialHeader = undefined;
      const length = header.readUIntBE(0, 3);
      if (!this.acceptsLength(length)) return chunk.length;
      this.partialFrame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length);
      header.copy(this.partialFrame);
      this.partialFill = FRAME_HEADER_LENGTH;
    }
    const frame = this.partialFrame as Buffer;
    const take = Math.min(frame.length - this.partialFill, chunk.length - used);
    chunk.copy(frame, this.partialFill, used, used + take);
    this.partialFill += take;
    return used + take;
  }

  /** Shows each complete frame in `bytes` to the handler and writes them on; keeps a trailing partial frame. */
  private relay(bytes: Buffer): void {
    let offset = 0;
    let forwardFrom = 0;
    while (!this.stopped && bytes.length - offset >= FRAME_HEADER_LENGTH) {
      const length = (bytes[offset]) * 65536 + (bytes[offset + 1]) * 256 + (bytes[offset + 2]);
      if (!this.acceptsLength(length)) {
        this.write(bytes.subarray(forwardFrom, offset));
        return;
      }
      const end = offset + FRAME_HEADER_LENGTH + length;
      if (end > bytes.length) break;
      const type = bytes[offset + 3];
      const flags = bytes[offset + 4];
      const verdict = this.see(type, flags, bytes.subarray(offset, end));
      if (verdict !== FrameVerdict.Forward) {
        this.write(bytes.subarray(forwardFrom, offset));
        forwardFrom = end;
      }
      // A refused frame opened or closed no header block: it never went out.
      if (verdict !== undefined && (type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE || type === FrameType.CONTINUATION)) {
        this.inHeaderBlock = (flags & Flag.END_HEADERS) === 0;
      }
      offset = end;
      if (!this.inHeaderBlock && this.deferred.length > 0) {
        this.write(bytes.subarray(forwardFrom, offset));
        forwardFrom = offset;
        this.flushDeferred();
      }
    }
    this.write(bytes.subarray(forwardFrom, offset));
    if (!this.stopped && offset < bytes.length) this.keepPartial(bytes.subarray(offset));
  }

  /**
   * The handler's verdict on a frame, or undefined for one the judge refused.
   * Frames whose handler fails are relayed unread.
   */
  private see(type: number, flags: number, frame: Buffer): FrameVerdict | undefined {
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    const violation = this.judge.judge(type, flags, streamId, frame);
    if (violation !== undefined) {
      if (violation.scope === 'connection') this.stopped = true;
      this.events.onViolation(violation, streamId);
      return undefined;
    }
    try {
      return this.events.onFrame(type, flags, streamId, frame);
    } catch (error) {
      this.events.onUnreadable(`reading a frame failed: ${(error as Error).message}`, error);
      return FrameVerdict.Forward;
    }
  }

  private keepPartial(rest: Buffer): void {
    if (rest.length < FRAME_HEADER_LENGTH) {
      this.partialHeader = Buffer.from(rest);
      return;
    }
    this.partialFrame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + rest.readUIntBE(0, 3));
    rest.copy(this.partialFrame);
    this.partialFill = rest.length;
  }

  private acceptsLength(length: number): boolean {
    if (length <= this.acceptedFrameSize.allowed) return true;
    this.stopped = true;
    this.events.onOversized(length, this.acceptedFrameSize.allowed);
    return false;
  }

  private flushDeferred(): void {
    const frames = this.deferred;
    this.deferred = [];
    for (const frame of frames) this.write(frame);
  }

  /** While a chunk is pumped, pieces are gathered, so the chunk leaves in one write however criscope cut it. */
  private write(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.output.push(bytes);
    this.outputBytes += bytes.length;
    if (!this.pushing) this.flushOutput();
  }

  /** One write for the gathered pieces: joined when small, corked (one writev, no copy) when not. */
  private flushOutput(): boolean {
    const pieces = this.output;
    const total = this.outputBytes;
    this.output = [];
    this.outputBytes = 0;
    const sink = this.sink;
    if (pieces.length === 0 || sink === undefined || sink.destroyed) return true;
    if (pieces.length === 1) return sink.write(pieces[0]);
    if (total <= JOIN_UP_TO_BYTES) return sink.write(Buffer.concat(pieces, total));
    sink.cork();
    let writable = true;
    for (const piece of pieces) writable = sink.write(piece) && writable;
    sink.uncork();
    return writable;
  }
}
