import type { TraceContinuation } from '../telemetry/trace-continuation.js';
import { headerValue, type TrackedCall } from './call-tracker.js';
import { FrameVerdict } from './frame-pump.js';
import type { HeaderBlock } from './header-blocks.js';
import { Representation, type HpackDecoder, type WatchedField } from './hpack/decoder.js';
import { literalLength, withoutIndexingHead, writeLiteral } from './hpack/encoder.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType, headerBlockFrames, writeFrameHeader } from './http2-frames.js';

/** The field criscope rewrites in requests; the client's request decoder watches for it. */
export const TRACEPARENT = 'traceparent';

/** Where re-parented request blocks go: the runtime's side of the connection. */
export interface RequestBlockSink {
  inject(frames: Buffer): void;
  /** The runtime's SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrameSize: number;
}

/** What becomes of a request header block's frame: as a pump verdict, or the connection must end. */
export type RequestBlockFate = FrameVerdict | 'cut';

/** What becomes of request header blocks on their way to the runtime. */
export interface RequestBlocks {
  /** True while the runtime's HPACK table holds a value criscope spliced in: request blocks can no longer pass unread. */
  readonly spliced: boolean;
  reparent(block: HeaderBlock, call: TrackedCall | undefined): void;
  keepOriginal(): void;
  forget(): void;
  frameFate(flags: number, frame: Buffer, readable: boolean): RequestBlockFate;
}

/** With tracing off, every request block goes on as it came, frame by frame. */
export const REQUEST_BLOCKS_AS_THEY_CAME: RequestBlocks = {
  spliced: false,
  reparent: () => undefined,
  keepOriginal: () => undefined,
  forget: () => undefined,
  frameFate: () => FrameVerdict.Forward,
};

/**
 * With tracing on, a request whose client sent a traceparent goes to the
 * runtime with criscope's span as the parent instead. The block goes on as
 * the client encoded it, octet for octet, but for the traceparent field,
 * whose value is spliced in its own representation (RFC 7541 §6): a field
 * sent never indexed stays so (§6.2.3), and one the client indexed is indexed
 * at the runtime too, with a value of the same length (a version-00
 * traceparent is always 55 octets). Both HPACK tables keep the same entries
 * and sizes; only that entry's value differs, and the client's decoder
 * remembers it (HpackDecoder.shadow). Should the client later refer to such
 * an entry, the runtime is sent a literal with the value it must read
 * instead, so every field but traceparent reaches it as the client sent it.
 *
 * The frames of a request block are held until the block ends, then go on as
 * they came or give way to the spliced block.
 */
export class RequestReparenting implements RequestBlocks {
  /** Copies of the frames of a request block still open. */
  private heldFrames: Buffer[] = [];
  /** The frames to send instead of the request block that just ended, when it was spliced. */
  private replacement: Buffer | undefined;
  /** The block that just ended refers to an entry the runtime holds another value for: as it came, it would read wrongly. */
  private originalMisleads = false;

  constructor(
    private readonly continuation: TraceContinuation,
    private readonly toRuntime: RequestBlockSink,
    /** The decoder of the client's request blocks, watching traceparent. */
    private readonly clientDecoder: HpackDecoder,
  ) {}

  get spliced(): boolean {
    return this.clientDecoder.shadowedEntries > 0;
  }

  /**
   * A request block has ended and was read (it is the one the client
   * decoder read last): re-parents its call's span when the client sent a
   * traceparent, and prepares the spliced block.
   */
  reparent(block: HeaderBlock, call: TrackedCall | undefined): void {
    const watched = this.clientDecoder.watchedFields;
    if (watched.length === 0) return;
    this.originalMisleads = watched.some((field) => field.receiverValue !== undefined);
    const { fields } = block;
    let traceparent: string | undefined;
    if (call !== undefined) {
      call.span = this.continuation.continueTrace(fields[watched[0].field + 1], headerValue(fields, 'tracestate'));
      traceparent = call.span?.traceparent;
    }
    const splices: Splice[] = [];
    let length = block.bytes.length;
    // Every copy, should a client send it twice: the runtime must not see the client's span as its parent.
    for (const field of watched) {
      const splice = spliceOf(block.bytes, field, fields[field.field + 1], traceparent);
      if (splice === undefined) continue;
      splices.push(splice);
      length += literalLength(splice.head, splice.value) - (field.end - field.start);
    }
    if (splices.length === 0) return;
    // The block is written after room for a frame header: in the usual case, one frame and one allocation.
    const framed = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length);
    let at = FRAME_HEADER_LENGTH;
    let copiedTo = 0;
    for (const { field, head, value } of splices) {
      at += block.bytes.copy(framed, at, copiedTo, field.start);
      at = writeLiteral(framed, at, head, value);
      copiedTo = field.end;
    }
    block.bytes.copy(framed, at, copiedTo);
    if (length <= this.toRuntime.maxFrameSize) {
      writeFrameHeader(framed, length, FrameType.HEADERS, Flag.END_HEADERS | (block.endStream ? Flag.END_STREAM : 0), block.streamId);
      this.replacement = framed;
    } else {
      this.replacement = headerBlockFrames(block.streamId, framed.subarray(FRAME_HEADER_LENGTH), block.endStream, this.toRuntime.maxFrameSize);
    }
    // Only once the replacement exists: until then the runtime's table still follows the client's.
    for (const { field, value } of splices) if (field.representation === Representation.IncrementalIndexing) this.clientDecoder.shadow(field.insertion, value);
  }

  /** The block just read goes on as it came (its replacement could not be made). */
  keepOriginal(): void {
    this.replacement = undefined;
  }

  /** Nothing goes on to the runtime any more (criscope answers the connection itself). */
  forget(): void {
    this.heldFrames = [];
    this.replacement = undefined;
    this.originalMisleads = false;
  }

  /**
   * The fate of a frame of a request block (HEADERS or CONTINUATION), after
   * the block has been read as far as this frame; `readable` is false once
   * the connection's blocks can no longer be read.
   */
  frameFate(flags: number, frame: Buffer, readable: boolean): RequestBlockFate {
    if (!readable) {
      // Unreadable halfway through a held block: its frames can no longer be released in order, nor held without bound;
      // and once the runtime's table holds a spliced value, a block that cannot be read cannot go on at all.
      return this.heldFrames.length === 0 && !this.spliced ? FrameVerdict.Forward : 'cut';
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      this.heldFrames.push(Buffer.from(frame));
      return FrameVerdict.Drop;
    }
    const held = this.heldFrames;
    const replacement = this.replacement;
    const misleads = this.originalMisleads;
    // A new list only when frames were held: most blocks are one frame.
    if (held.length !== 0) this.heldFrames = [];
    this.replacement = undefined;
    this.originalMisleads = false;
    if (replacement !== undefined) {
      this.toRuntime.inject(replacement);
      return FrameVerdict.Drop;
    }
    if (misleads) return 'cut';
    if (held.length === 0) return FrameVerdict.Forward;
    for (const heldFrame of held) this.toRuntime.inject(heldFrame);
    this.toRuntime.inject(Buffer.from(frame));
    return FrameVerdict.Drop;
  }
}

/** A traceparent field the runtime gets with another value: its representation's head, and the value. */
interface Splice {
  readonly field: WatchedField;
  /** The octets of the representation up to its value: the client's own, or a literal without indexing for an indexed field. */
  readonly head: Buffer;
  readonly value: string;
}

/**
 * How the runtime gets a traceparent field the client sent as `sent`, or
 * undefined when it can go on as it came. With `traceparent` (the call was
 * re-parented) it carries that value; without, it carries the client's own
 * value where the runtime's table holds criscope's instead.
 */
function spliceOf(block: Buffer, field: WatchedField, sent: string, traceparent: string | undefined): Splice | undefined {
  const value = traceparent ?? (field.receiverValue === undefined ? undefined : sent);
  if (value === undefined) return undefined;
  switch (field.representation) {
    case Representation.Indexed:
      // Same name, from the same index; a literal changes neither table.
      return { field, head: withoutIndexingHead(field.index), value };
    case Representation.IncrementalIndexing:
      // Another length would change the runtime's table size and so which entries it evicts: the client's value stays.
      return value.length === sent.length ? { field, head: block.subarray(field.start, field.valueStart), value } : undefined;
    default:
      return { field, head: block.subarray(field.start, field.valueStart), value };
  }
}
