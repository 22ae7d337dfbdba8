/** What each read from the runtime reads into: the size Node reads with by default. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Buffers kept for reuse per connection; past these, a read gets a buffer of its own that is not reused. */
const MAX_POOLED_BUFFERS = 8;

/**
 * The buffers one connection reads the runtime's bytes into, reused from read
 * to read. Left to itself, Node allocates a buffer for every read; a 4 MiB
 * answer takes 64 of them, and V8 counts their memory as external, which
 * sets off a full garbage collection every call or two.
 *
 * The bytes of a read are borrowed: the relay writes them on to the client
 * and copies whatever it keeps. So the buffers lent since the client's socket
 * last had nothing waiting to be written are all free again once it has
 * nothing waiting: `caughtUp()` says when.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];
  private lent: Buffer[] = [];
  private pooled = 0;

  constructor(private readonly caughtUp: () => boolean) {}

  /** The buffer for the next read. */
  next(): Buffer {
    if (this.lent.length > 0 && this.caughtUp()) {
      for (const buffer of this.lent) this.free.push(buffer);
      this.lent = [];
    }
    let buffer = this.free.pop();
    if (buffer === undefined) {
      buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
      if (this.pooled === MAX_POOLED_BUFFERS) return buffer;
      this.pooled++;
    }
    this.lent.push(buffer);
    return buffer;
  }
}
