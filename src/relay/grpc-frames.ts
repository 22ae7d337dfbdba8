/**
 * Follows the gRPC length-prefixed framing of one direction of a call as its bytes
 * go by, in whatever chunks HTTP/2 delivers them. It never copies bytes it is not
 * asked to keep: it counts messages and payload bytes, and keeps only the first
 * message when the call's record will want to decode it.
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

export class GrpcMessageScanner {
  messages = 0;
  payloadBytes = 0;
  /** The first message, when asked for and no larger than the limit. */
  first: GrpcMessage | undefined;

  private remaining = 0;
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  private keeping = false;
  private keptCompressed = false;
  private keptParts: Buffer[] | undefined;

  /** True once the first message has arrived whole. */
  get firstMessageEnded(): boolean {
    return this.messages > 1 || (this.messages === 1 && this.remaining === 0 && this.prefixFill === 0);
  }

  /** `keepFirstUpTo` is the largest first message to keep; 0 keeps nothing. */
  constructor(private readonly keepFirstUpTo: number) {}

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
    this.keeping = this.messages === 1 && this.keepFirstUpTo > 0 && length <= this.keepFirstUpTo;
    this.keptCompressed = compressed;
    if (length === 0) this.finishMessage();
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
