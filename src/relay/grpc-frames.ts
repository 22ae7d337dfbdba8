import type { KeepBudget } from './keep-budget.js';

/**
 * Follows the gRPC length-prefixed framing of one direction of a call as its bytes
 * go by, in whatever chunks HTTP/2 delivers them. It never copies bytes it is not
 * asked to keep: it counts messages and payload bytes, and keeps only the first
 * message when the call's record will want to decode it, and the connection's
 * keep budget has room for it.
 */

const PREFIX_LENGTH = 5;
const SMALL_PIECE = 4096;

/** One kept message: the chunks it arrived in, joined only if someone reads it. */
export class GrpcMessage {
  constructor(
    /** The frame's compressed flag: the payload is in the call's grpc-encoding. */
    readonly compressed: boolean,
    private parts: Buffer[],
  ) {}

  get payload(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0];
  }

  get pieces(): readonly Buffer[] {
    return this.parts;
  }
}

/** Why a first message that was asked for is not kept. */
export type NotKept = 'too large' | 'over budget';

export class GrpcMessageScanner {
  messages = 0;
  payloadBytes = 0;
  /** The first message, when asked for, no larger than the limit, and within the budget. */
  first: GrpcMessage | undefined;
  /** Set when the first message was asked for but is not kept: over the limit, or over the connection's budget. */
  notKept: NotKept | undefined;

  private remaining = 0;
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private keeping = false;
  private keptCompressed = false;
  private keptParts: Buffer[] | undefined;
  /** What this scanner took from the budget, until it gives it back. */
  private takenBytes = 0;

  /** True once the first message has arrived whole. */
  get firstMessageEnded(): boolean {
    return this.messages > 1 || (this.messages === 1 && this.remaining === 0 && this.prefixFill === 0);
  }

  /**
   * `keepFirstUpTo` is the largest first message to keep; 0 keeps nothing.
   * Without a budget, any message up to that size is kept.
   */
  constructor(
    private readonly keepFirstUpTo: number,
    private readonly budget?: KeepBudget,
  ) {}

  /**
   * Gives back to the budget what this scanner took, once its call gets no
   * more bytes: its record is handed over, or the call is forgotten. `first`
   * stays, for whoever holds the record.
   */
  release(): void {
    this.keeping = false;
    this.keptParts = undefined;
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
        if (this.keeping) this.keep(chunk.subarray(offset, offset + take));
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
    this.keeping = this.messages === 1 && this.keepFirstUpTo > 0 && this.mayKeep(length);
    this.keptCompressed = compressed;
    if (length === 0) this.finishMessage();
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

  /** A small piece is copied so the call does not hold on to the whole socket chunk it came in. */
  private keep(piece: Buffer): void {
    (this.keptParts ??= []).push(piece.length <= SMALL_PIECE ? Buffer.from(piece) : piece);
  }

  private finishMessage(): void {
    if (!this.keeping) return;
    this.first = new GrpcMessage(this.keptCompressed, this.keptParts ?? []);
    this.keeping = false;
    this.keptParts = undefined;
  }
}
