/**
 * The request bytes of a stream criscope owns (see request-flow.ts), on
 * their way to the runtime: held back while the gate judges the request,
 * possibly rewritten, then sent as the runtime's credit allows. Only DATA
 * content is kept (padding is not), so what goes on is re-framed to fit the
 * windows and the runtime's frame size.
 *
 * A request larger than the relay will hold unjudged lets its head go on
 * before judgement: the runtime cannot act on a message before its last
 * byte, and the client is never stalled on a connection window the runtime
 * refills only for bytes it has seen.
 */
export class HeldRequest {
  private chunks: Buffer[] = [];
  private queued = 0;
  /** The request's END_STREAM has arrived: it goes on after the last queued byte. */
  endStream = false;
  /** The gate is judging the request (its first message is whole). */
  judging = false;
  /** The request's head goes on before judgement: it can no longer be rewritten. */
  headWentOn = false;
  /** The verdict is applied. */
  released = false;

  /**
   * Whether bytes may go on as credit allows: after the verdict, or while a
   * head goes on unjudged. The bytes that make the message whole wait for the
   * verdict: the runtime acts on nothing before them.
   */
  get mayGoOn(): boolean {
    return this.released || (this.headWentOn && !this.judging);
  }

  /** True while the request's bytes count against what may wait for the rest of a request. */
  get waitsUnjudged(): boolean {
    return !this.judging && !this.headWentOn && !this.released;
  }

  /** Content bytes not yet sent. */
  get bytes(): number {
    return this.queued;
  }

  /** Keeps a copy: the content's socket chunk is reused for what follows it. */
  append(content: Buffer, endStream: boolean): void {
    if (content.length > 0) {
      this.chunks.push(Buffer.from(content));
      this.queued += content.length;
    }
    if (endStream) this.endStream = true;
  }

  /** Takes up to `max` bytes from the front. */
  take(max: number): Buffer {
    const wanted = Math.min(max, this.queued);
    const first = this.chunks[0];
    if (first !== undefined && first.length === wanted) {
      this.chunks.shift();
      this.queued -= wanted;
      return first;
    }
    const taken = Buffer.allocUnsafe(wanted);
    let filled = 0;
    while (filled < wanted) {
      const chunk = this.chunks[0];
      const part = Math.min(chunk.length, wanted - filled);
      chunk.copy(taken, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.queued -= wanted;
    return taken;
  }

  /**
   * Puts `replacement` where the first `replacedBytes` bytes are (nothing has
   * been sent yet); returns how much longer the queue became (negative when
   * shorter).
   */
  replaceFront(replacedBytes: number, replacement: Buffer): number {
    const all = this.take(this.queued);
    const rest = all.subarray(replacedBytes);
    this.chunks = rest.length > 0 ? [replacement, rest] : [replacement];
    this.queued = replacement.length + rest.length;
    return this.queued - all.length;
  }

  /** Forgets whatever is queued; returns how many bytes that was. */
  clear(): number {
    const dropped = this.queued;
    this.chunks = [];
    this.queued = 0;
    return dropped;
  }
}
