import { connect, type Socket } from 'node:net';

/**
 * A client connection written byte by byte, that reads the frames coming back:
 * for tests that need to act between two frames of the peer (answer a SETTINGS
 * late, say), which neither node:http2 nor a one-shot exchange allows.
 */
export class RawH2Client {
  /** Resolves once the connection is closed, by either side. */
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private pending = Buffer.alloc(0);
  private readonly seen: { type: number; flags: number; streamId: number }[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(socketPath: string) {
    this.socket = connect(socketPath);
    this.socket.on('error', () => undefined);
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 9 && this.pending.length >= 9 + this.pending.readUIntBE(0, 3)) {
        const length = this.pending.readUIntBE(0, 3);
        this.seen.push({ type: this.pending[3], flags: this.pending[4], streamId: this.pending.readUInt32BE(5) & 0x7fffffff });
        this.pending = this.pending.subarray(9 + length);
      }
      for (const waiter of this.waiters) waiter();
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once a frame matching `wanted` has arrived (counting those already in); rejects if the connection closes first. */
  waitForFrame(wanted: (type: number, flags: number, streamId: number) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!this.seen.some((frame) => wanted(frame.type, frame.flags, frame.streamId))) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
      void this.closed.then(() => {
        if (this.waiters.delete(check)) reject(new Error('the connection closed before the awaited frame came'));
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
