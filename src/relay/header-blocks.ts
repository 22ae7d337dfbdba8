import { HpackDecoder } from './hpack/decoder.js';
import { Flag, FrameType, framePayload } from './http2-frames.js';

/** A header block larger than this is relayed without being read (kubelet's are a few hundred bytes). */
const MAX_HEADER_BLOCK_BYTES = 1024 * 1024;
const MAX_HEADER_BLOCK_FRAMES = 256;

/** A header block that has ended, with its decoded fields ([name, value, …]). */
export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  /** A PUSH_PROMISE block: decoded only to keep HPACK state, never a call. */
  readonly promise: boolean;
  readonly fields: string[];
  /** The block's octets, its fragments joined. */
  readonly bytes: Buffer;
  /** Whether decoding it changed the HPACK dynamic table: a block that did not may be withheld without the peers' tables parting. */
  readonly changedTable: boolean;
}

interface OpenBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly promise: boolean;
  readonly fragments: Buffer[];
  /** Bytes and frames so far, whole frames counted: a flood of empty CONTINUATIONs is bounded too. */
  size: number;
  frames: number;
}

/**
 * One direction's HPACK context: collects each header block across its
 * HEADERS (or PUSH_PROMISE) and CONTINUATION frames and decodes it with the
 * decoder that mirrors the sending peer's table. Every block must be decoded,
 * in order, for the table to stay in step; once one cannot be, the direction
 * stops being read.
 */
export class HeaderBlockReader {
  readonly decoder: HpackDecoder;
  private open: OpenBlock | undefined;
  private stopped = false;

  /**
   * `onUnreadable` is told why, once, when a block cannot be read: the reader
   * then stops. `watchedName`: a field name whose place in each block the
   * decoder notes (HpackDecoder.watchedFields).
   */
  constructor(
    private readonly onUnreadable: (reason: string, cause?: unknown) => void,
    watchedName?: string,
  ) {
    this.decoder = new HpackDecoder(undefined, watchedName);
  }

  /** The stream of the call block being received (not a PUSH_PROMISE), if one is open. */
  get openCallStreamId(): number | undefined {
    return this.open === undefined || this.open.promise ? undefined : this.open.streamId;
  }

  /** Forgets the open block and reads no more (the connection can no longer be followed). */
  stop(): void {
    this.stopped = true;
    this.open = undefined;
  }

  /** A HEADERS or PUSH_PROMISE frame: the block it ends, if it ends one. */
  start(streamId: number, flags: number, frame: Buffer, type: number): HeaderBlock | undefined {
    if (this.stopped) return undefined;
    if (frame.length > MAX_HEADER_BLOCK_BYTES) {
      this.fail(`a header block over ${MAX_HEADER_BLOCK_BYTES} bytes or ${MAX_HEADER_BLOCK_FRAMES} frames`);
      return undefined;
    }
    const ends = (flags & Flag.END_HEADERS) !== 0;
    const fragment = framePayload(frame, type, flags);
    this.open = {
      streamId,
      endStream: (flags & Flag.END_STREAM) !== 0,
      promise: type === FrameType.PUSH_PROMISE,
      // A block that goes on in later frames keeps a copy: the frame's memory is the reader's only while it reads it.
      fragments: [ends ? fragment : Buffer.from(fragment)],
      size: frame.length,
      frames: 1,
    };
    return ends ? this.end() : undefined;
  }

  /** A CONTINUATION frame: the block it ends, if it ends one. */
  continue(flags: number, frame: Buffer): HeaderBlock | undefined {
    const block = this.open;
    if (block === undefined) return undefined;
    block.size += frame.length;
    block.frames += 1;
    if (block.size > MAX_HEADER_BLOCK_BYTES || block.frames > MAX_HEADER_BLOCK_FRAMES) {
      this.fail(`a header block over ${MAX_HEADER_BLOCK_BYTES} bytes or ${MAX_HEADER_BLOCK_FRAMES} frames`);
      return undefined;
    }
    const fragment = framePayload(frame, FrameType.CONTINUATION, flags);
    // A copy: the frame's memory is the reader's only while it reads it.
    if (fragment.length > 0) block.fragments.push(Buffer.from(fragment));
    return (flags & Flag.END_HEADERS) !== 0 ? this.end() : undefined;
  }

  private end(): HeaderBlock | undefined {
    const block = this.open;
    this.open = undefined;
    if (block === undefined) return undefined;
    try {
      const { fragments } = block;
      const bytes = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      const changesBefore = this.decoder.tableChanges;
      const fields = this.decoder.decode(bytes);
      return { streamId: block.streamId, endStream: block.endStream, promise: block.promise, fields, bytes, changedTable: this.decoder.tableChanges !== changesBefore };
    } catch (error) {
      this.fail((error as Error).message, error);
      return undefined;
    }
  }

  private fail(reason: string, cause?: unknown): void {
    this.stop();
    this.onUnreadable(reason, cause);
  }
}
