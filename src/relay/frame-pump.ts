import { FRAME_HEADER_LENGTH, Flag, FrameType } from './http2-frames.js';

/** What the pump should do with a frame it has shown to its handler. */
export const enum FrameVerdict {
  Forward = 0,
  Drop = 1,
}

/** Where a pump writes: a socket, in practice. */
export interface FrameSink {
  readonly destroyed: boolean;
  write(bytes: Buffer): boolean;
}

/** Sees each complete frame of one direction; `frame` is the whole frame, header included. */
export type FrameHandler = (type: number, flags: number, streamId: number, frame: Buffer) => FrameVerdict;

/**
 * Moves the frames of one direction of a connection from a source socket to a
 * sink socket, unchanged and whole: a chunk is written as it came, up to its
 * last complete frame, so the sink always sits on a frame boundary and
 * criscope can slip its own frames in between. Frames a handler drops are cut
 * out; a frame split across chunks waits (copied) for its end.
 */
export class FramePump {
  private pending: Buffer | undefined;
  private inHeaderBlock = false;
  private pushing = false;
  private deferred: Buffer[] = [];

  constructor(
    private sink: FrameSink | undefined,
    private readonly handle: FrameHandler,
  ) {}

  /** True between a HEADERS frame without END_HEADERS and the CONTINUATION that ends its block. */
  get insideHeaderBlock(): boolean {
    return this.inHeaderBlock;
  }

  /** Where frames go from now on; undefined discards them (criscope answers this side itself). */
  setSink(sink: FrameSink | undefined): void {
    this.sink = sink;
  }

  /** Returns false when the sink is full, so the caller pauses the source. */
  push(chunk: Buffer): boolean {
    this.pushing = true;
    let writable = true;
    let bytes = chunk;
    if (this.pending !== undefined) {
      // Complete the frame split across chunks, copying only its own bytes, and relay it alone.
      const joined = this.completePending(chunk);
      if (joined === undefined) {
        this.pushing = false;
        return true;
      }
      writable = this.relay(joined.frame) && writable;
      bytes = chunk.subarray(joined.used);
    }
    writable = this.relay(bytes) && writable;
    this.pushing = false;
    return writable;
  }

  /** Adds the start of `chunk` to the pending partial frame; returns the whole frame once it is there. */
  private completePending(chunk: Buffer): { frame: Buffer; used: number } | undefined {
    const pending = this.pending as Buffer;
    let header = pending;
    if (pending.length < FRAME_HEADER_LENGTH) header = Buffer.concat([pending, chunk.subarray(0, FRAME_HEADER_LENGTH - pending.length)]);
    if (header.length < FRAME_HEADER_LENGTH) {
      this.pending = header;
      return undefined;
    }
    const total = FRAME_HEADER_LENGTH + header.readUIntBE(0, 3);
    const used = Math.min(total - pending.length, chunk.length);
    const joined = Buffer.concat([pending, chunk.subarray(0, used)]);
    if (joined.length < total) {
      this.pending = joined;
      return undefined;
    }
    this.pending = undefined;
    return { frame: joined, used };
  }

  /** Shows each complete frame in `bytes` to the handler and writes them on; keeps a trailing partial frame. */
  private relay(bytes: Buffer): boolean {
    let offset = 0;
    let forwardFrom = 0;
    let writable = true;
    while (bytes.length - offset >= FRAME_HEADER_LENGTH) {
      const length = (bytes[offset] as number) * 65536 + (bytes[offset + 1] as number) * 256 + (bytes[offset + 2] as number);
      const end = offset + FRAME_HEADER_LENGTH + length;
      if (end > bytes.length) break;
      const type = bytes[offset + 3] as number;
      const flags = bytes[offset + 4] as number;
      const streamId = bytes.readUInt32BE(offset + 5) & 0x7fffffff;
      const verdict = this.handle(type, flags, streamId, bytes.subarray(offset, end));
      if (type === FrameType.HEADERS || type === FrameType.PUSH_PROMISE || type === FrameType.CONTINUATION) {
        this.inHeaderBlock = (flags & Flag.END_HEADERS) === 0;
      }
      if (verdict === FrameVerdict.Drop) {
        writable = this.write(bytes.subarray(forwardFrom, offset)) && writable;
        forwardFrom = end;
      }
      offset = end;
      if (!this.inHeaderBlock && this.deferred.length > 0) {
        writable = this.write(bytes.subarray(forwardFrom, offset)) && writable;
        forwardFrom = offset;
        writable = this.flushDeferred() && writable;
      }
    }
    writable = this.write(bytes.subarray(forwardFrom, offset)) && writable;
    if (offset < bytes.length) this.pending = Buffer.from(bytes.subarray(offset));
    return writable;
  }

  /**
   * Writes a frame of criscope's own at the next point where no header block is
   * open, and after the frames already relayed from the chunk being pumped.
   */
  inject(frame: Buffer): void {
    if (this.inHeaderBlock || this.pushing) this.deferred.push(frame);
    else this.write(frame);
  }

  private flushDeferred(): boolean {
    const frames = this.deferred;
    this.deferred = [];
    let writable = true;
    for (const frame of frames) writable = this.write(frame) && writable;
    return writable;
  }

  private write(bytes: Buffer): boolean {
    if (bytes.length === 0 || this.sink === undefined || this.sink.destroyed) return true;
    return this.sink.write(bytes);
  }
}
