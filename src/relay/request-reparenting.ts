import type { TraceContinuation } from '../telemetry/trace-continuation.js';
import { headerIndex, headerValue, type TrackedCall } from './call-tracker.js';
import { FrameVerdict } from './frame-pump.js';
import type { HeaderBlock } from './header-blocks.js';
import { encodeHeaderList } from './hpack/encoder.js';
import { Flag, headerBlockFrames } from './http2-frames.js';

/** An HPACK dynamic table size update to 0, which starts every re-encoded request block. */
const CLEAR_DYNAMIC_TABLE = Buffer.from([0x20]);

/** Where re-encoded request blocks go: the runtime's side of the connection. */
export interface RequestBlockSink {
  inject(frames: Buffer): void;
  /** The runtime's SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrameSize: number;
}

/** What becomes of a request header block's frame: as a pump verdict, or the connection must end. */
export type RequestBlockFate = FrameVerdict | 'cut';

/** What becomes of request header blocks on their way to the runtime. */
export interface RequestBlocks {
  /** True once request blocks are re-encoded: the runtime's HPACK table no longer follows the client's. */
  readonly reencodes: boolean;
  reparent(block: HeaderBlock, call: TrackedCall | undefined, neverIndexed: readonly number[]): void;
  keepOriginal(): void;
  forget(): void;
  frameFate(flags: number, frame: Buffer, readable: boolean): RequestBlockFate;
}

/** With tracing off, every request block goes on as it came, frame by frame. */
export const REQUEST_BLOCKS_AS_THEY_CAME: RequestBlocks = {
  reencodes: false,
  reparent: () => undefined,
  keepOriginal: () => undefined,
  forget: () => undefined,
  frameFate: () => FrameVerdict.Forward,
};

/**
 * With tracing on, a request whose client sent a traceparent goes to the
 * runtime with criscope's span as the parent instead. Its header block is
 * re-encoded, and from then on every request block of the connection is: the
 * runtime's HPACK table no longer follows the client's, so criscope decodes
 * with the client's table and encodes without any (literals only), changing
 * no field but traceparent and keeping each field's representation (a field
 * sent never indexed stays so, RFC 7541 §6.2.3).
 *
 * The frames of a request block are held until the block ends, then go on as
 * they came or give way to the re-encoded block.
 */
export class RequestReparenting implements RequestBlocks {
  /** Set once a request block was re-encoded: every later one must be too. */
  private reencoding = false;
  /** Copies of the frames of a request block still open. */
  private heldFrames: Buffer[] = [];
  /** The frames to send instead of the request block that just ended, when it was re-encoded. */
  private replacement: Buffer | undefined;

  constructor(
    private readonly continuation: TraceContinuation,
    private readonly toRuntime: RequestBlockSink,
  ) {}

  /** True once request blocks are re-encoded: the runtime's HPACK table no longer follows the client's. */
  get reencodes(): boolean {
    return this.reencoding;
  }

  /**
   * A request block has ended and was read: re-parents its call's span (when
   * the client sent a traceparent) and, if blocks are re-encoded, prepares
   * the replacement. `neverIndexed` lists the fields (by name index) the
   * client sent never indexed.
   */
  reparent(block: HeaderBlock, call: TrackedCall | undefined, neverIndexed: readonly number[]): void {
    const { fields } = block;
    const at = call === undefined ? -1 : headerIndex(fields, 'traceparent');
    let reparented = false;
    if (call !== undefined && at >= 0) {
      call.span = this.continuation.continueTrace(fields[at + 1], headerValue(fields, 'tracestate'));
      const traceparent = call.span?.traceparent;
      if (traceparent !== undefined) {
        // Every copy, should a client send it twice: the runtime must not see the client's span as its parent.
        for (let index = at; index < fields.length; index += 2) if (fields[index] === 'traceparent') fields[index + 1] = traceparent;
        reparented = true;
      }
    }
    if (!this.reencoding && !reparented) return;
    // The size update first: whatever table size the client last set, criscope's blocks need none (RFC 7541 §4.2, §6.3).
    const encoded = Buffer.concat([CLEAR_DYNAMIC_TABLE, encodeHeaderList(fields, neverIndexed)]);
    this.replacement = headerBlockFrames(block.streamId, encoded, block.endStream, this.toRuntime.maxFrameSize);
    // Only once a replacement exists: until then the runtime's table still follows the client's.
    this.reencoding = true;
  }

  /** The block just read goes on as it came (its replacement could not be made). */
  keepOriginal(): void {
    this.replacement = undefined;
  }

  /** Nothing goes on to the runtime any more (criscope answers the connection itself). */
  forget(): void {
    this.heldFrames = [];
    this.replacement = undefined;
  }

  /**
   * The fate of a frame of a request block (HEADERS or CONTINUATION), after
   * the block has been read as far as this frame; `readable` is false once
   * the connection's blocks can no longer be read.
   */
  frameFate(flags: number, frame: Buffer, readable: boolean): RequestBlockFate {
    if (!readable) {
      // Unreadable halfway through a held block: its frames can no longer be released in order, nor held without bound;
      // and once blocks are re-encoded, one that cannot be read cannot go on at all.
      return this.heldFrames.length === 0 && !this.reencoding ? FrameVerdict.Forward : 'cut';
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      this.heldFrames.push(Buffer.from(frame));
      return FrameVerdict.Drop;
    }
    const held = this.heldFrames;
    const replacement = this.replacement;
    this.heldFrames = [];
    this.replacement = undefined;
    if (replacement !== undefined) {
      this.toRuntime.inject(replacement);
      return FrameVerdict.Drop;
    }
    // A block that could not be read cannot be re-encoded, and as it came it would not decode at the runtime.
    if (this.reencoding) return 'cut';
    if (held.length === 0) return FrameVerdict.Forward;
    for (const heldFrame of held) this.toRuntime.inject(heldFrame);
    this.toRuntime.inject(Buffer.from(frame));
    return FrameVerdict.Drop;
  }
}
