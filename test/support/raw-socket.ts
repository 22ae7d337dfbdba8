import { connect, type Socket } from 'node:net';

/** Writes raw bytes to a unix socket; resolves with what came back once the peer closes (or `waitMs` passes). */
export function exchangeRaw(socketPath: string, bytes: Buffer, waitMs = 1000): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = connect(socketPath, () => socket.write(bytes));
    const done = (): void => {
      socket.destroy();
      resolve(Buffer.concat(received));
    };
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('close', done);
    socket.on('error', done);
    setTimeout(done, waitMs);
  });
}

/** One HTTP/2 frame as it came off the wire. */
export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  /** The whole frame, header included. */
  readonly bytes: Buffer;
  readonly payload: Buffer;
}

/** The whole frames at the start of `bytes` (a trailing partial frame is left out). */
export function parseFrames(bytes: Buffer): RawFrame[] {
  const frames: RawFrame[] = [];
  for (let offset = 0; offset + 9 <= bytes.length; ) {
    const end = offset + 9 + bytes.readUIntBE(offset, 3);
    if (end > bytes.length) break;
    const frame = bytes.subarray(offset, end);
    frames.push({ type: frame[3], flags: frame[4], streamId: frame.readUInt32BE(5) & 0x7fffffff, bytes: frame, payload: frame.subarray(9) });
    offset = end;
  }
  return frames;
}

/**
 * A client connection at the frame level, for sending what no real client
 * would: it writes raw bytes and keeps every frame that comes back.
 */
export class RawConnection {
  private received = Buffer.alloc(0);
  private closedByPeer = false;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedByPeer = true;
      this.wake();
    });
  }

  /** Connects to a unix socket; rejects when nothing listens there within `waitMs`. */
  static open(socketPath: string, waitMs = 5000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`could not connect to ${socketPath} within ${waitMs} ms`));
      }, waitMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawConnection(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Every whole frame received so far. */
  get frames(): RawFrame[] {
    return parseFrames(this.received);
  }

  /** True once the peer has closed the connection. */
  get closed(): boolean {
    return this.closedByPeer;
  }

  send(bytes: Buffer): void {
    if (!this.closedByPeer) this.socket.write(bytes);
  }

  /**
   * Resolves true once `condition` holds over the frames received, false if
   * the peer closed first or `waitMs` passed.
   */
  waitFor(condition: (frames: RawFrame[]) => boolean, waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (condition(this.frames)) finish(true);
        else if (this.closedByPeer) finish(false);
      };
      const finish = (held: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(held);
      };
      const timer = setTimeout(() => finish(false), waitMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Stops reading the socket: what the peer writes waits in its buffers, then in the peer. */
  stopReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
