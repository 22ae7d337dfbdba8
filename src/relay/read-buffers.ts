/** What each read from the runtime reads into: the size Node reads with by default. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * The buffers one connection reads the runtime's bytes into, reused from read
 * to read. Left to itself, Node allocates a buffer for every read; a 4 MiB
 * answer takes 64 of them, and V8 counts their memory as external, which
 * sets off a full garbage collection every call or two.
 *
 * The bytes of a read are borrowed: the relay writes them on to the client
 * and copies whatever it keeps. While the client's socket has nothing waiting
 * to be written (`caughtUp()`), a read is passed on in the buffer's own
 * memory, and that buffer is lent until the socket has caught up again. While
 * writes wait, a read is passed on as a copy of just its bytes, as Node would
 * have made it: a waiting write of a few bytes must not pin a whole buffer.
 * So a connection holds two or three buffers at most.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];
  private lent: Buffer[] = [];
  private current: Buffer | undefined;

  constructor(private readonly caughtUp: () => boolean) {}

  /** The buffer for the next read. */
  next(): Buffer {
    if (this.lent.length > 0 && this.caughtUp()) {
      for (const buffer of this.lent) this.free.push(buffer);
      this.lent = [];
    }
    this.current = this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    return this.current;
  }

  /** The `length` bytes just read into the buffer next() gave, to pass on. */
  read(length: number): Buffer {
    const buffer = this.current;
    if (buffer === undefined) throw new RangeError('a read before any buffer was given for it');
    const bytes = buffer.subarray(0, length);
    if (this.caughtUp()) {
      this.lent.push(buffer);
      return bytes;
    }
    this.free.push(buffer);
    return Buffer.from(bytes);
  }
}
