import type { WireMessage } from '../cri/decode-call.js';
import { FieldCounter } from '../cri/wire.js';
import type { KeepBudget } from './keep-budget.js';

/**
 * Follows the gRPC length-prefixed framing of one direction of a call as its bytes
 * go by, in whatever chunks HTTP/2 delivers them. It counts messages and payload
 * bytes, and copies only the first message when the call's record will want to
 * decode it and the connection's keep budget has room for it. Its chunks are
 * borrowed: the relay reuses their memory once they have been passed on.
 */

const PREFIX_LENGTH = 5;

/** Why a first message that was asked for is not kept. */
export type NotKept = 'too large' | 'over budget';

export class GrpcMessageScanner {
  messages = 0;
  payloadBytes = 0;
  /** The first message, when asked for, no larger than the limit, and within the budget. */
  first: WireMessage | undefined;
  /** The first message's count of `countField`, once it has gone by uncompressed. */
  firstCounted: FieldCounter | undefined;
  /** Set when the first message was asked for but is not kept: over the limit, or over the connection's budget. */
  notKept: NotKept | undefined;

  private remaining = 0;
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private keeping = false;
  private keptCompressed = false;
  /** Copies of the kept message's pieces as they came: memory for what has arrived, not for what its prefix declares. */
  private keptParts: Buffer[] | undefined;
  private counting: FieldCounter | undefined;
  /** What this scanner took from the budget, until it gives it back. */
  private takenBytes = 0;

  /** True once the first message has arrived whole. */
  get firstMessageEnded(): boolean {
    return this.messages > 1 || (this.messages === 1 && this.remaining === 0 && this.prefixFill === 0);
  }

  /**
   * `keepFirstUpTo` is the largest first message to keep; 0 keeps nothing.
   * Without a budget, any message up to that size is kept. `countField` is a
   * top-level field whose occurrences in the first message are counted as it
   * goes by (a list response's items): that message is then not kept, unless
   * it comes compressed, to be counted once decompressed.
   */
  constructor(
    private readonly keepFirstUpTo: number,
    private readonly budget?: KeepBudget,
    private readonly countField?: number,
  ) {}

  /**
   * Gives back to the budget what this scanner took, once its call gets no
   * more bytes: its record is handed over, or the call is forgotten. `first`
   * stays, for whoever holds the record.
   */
  release(): void {
    this.keeping = false;
    this.keptParts = undefined;
    this.counting = undefined;
    const bytes = this.takenBytes;
    this.takenBytes = 0;
    if (bytes > 0) this.budget?.give(bytes);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - offset);
        if (this.keeping) (this.keptParts ??= []).push(Buffer.from(chunk.subarray(offset, offset + take)));
        else if (this.counting !== undefined) this.counting.push(chunk.subarray(offset, offset + take));
        offset += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finishMessage();
      } else if (this.prefixFill === 0 && end - offset >= PREFIX_LENGTH) {
        this.startMessage(chunk[offset] === 1, chunk.readUInt32BE(offset + 1));
        offset += PREFIX_LENGTH;
      } else {
        // A prefix split across chunks: collect it byte by byte (rare).
        this.prefix ??= Buffer.allocUnsafe(PREFIX_LENGTH);
        this.prefix[this.prefixFill++] = chunk[offset++];
        if (this.prefixFill === PREFIX_LENGTH) {
          this.prefixFill = 0;
          this.startMessage(this.prefix[0] === 1, this.prefix.readUInt32BE(1));
        }
      }
    }
  }

  private startMessage(compressed: boolean, length: number): void {
    this.messages++;
    this.payloadBytes += length;
    this.remaining = length;
    if (this.messages === 1) this.startFirst(compressed, length);
    if (length === 0) this.finishMessage();
  }

  private startFirst(compressed: boolean, length: number): void {
    if (this.countField !== undefined && !compressed) {
      this.counting = new FieldCounter(this.countField);
      return;
    }
    this.keeping = this.keepFirstUpTo > 0 && this.mayKeep(length);
    if (this.keeping) this.keptCompressed = compressed;
  }

  /** Whether a first message of `length` bytes may be kept: taken from the budget when it is. */
  private mayKeep(length: number): boolean {
    if (length > this.keepFirstUpTo) {
      this.notKept = 'too large';
      return false;
    }
    if (this.budget !== undefined && !this.budget.tryTake(length)) {
      this.notKept = 'over budget';
      return false;
    }
    this.takenBytes = length;
    return true;
  }

  private finishMessage(): void {
    if (this.counting !== undefined) {
      this.firstCounted = this.counting;
      this.counting = undefined;
    }
    if (!this.keeping) return;
    const parts = this.keptParts ?? [];
    this.first = { compressed: this.keptCompressed, payload: parts.length === 1 ? parts[0] : Buffer.concat(parts) };
    this.keeping = false;
    this.keptParts = undefined;
  }
}
