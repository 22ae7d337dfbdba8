import { CALL_ENTRY_VERSION, type CallEntry } from './call-entry.js';

/** Where a subscriber's lines go: an HTTP response, in practice. */
export interface LineSink {
  /** Bytes written but not yet taken by the reader. */
  readonly writableLength: number;
  write(chunk: string | Uint8Array): unknown;
}

/** The line that tells a subscriber how many calls it lost while it did not read. */
export interface LostLine {
  readonly v: typeof CALL_ENTRY_VERSION;
  readonly lost: number;
}

/** A header of the calls stream: whether the flight recorder keeps calls ("on"/"off"), so a reader asking for the past knows why it got none. */
export const RECORDER_HEADER = 'criscope-flight-recorder';

/** Lines are gathered at most this long and written together: one write a batch instead of one a call. */
const BATCH_MILLISECONDS = 100;
/** A batch this large (or a quarter of the subscriber's queue bound, if less) is written at once, without waiting out the rest of its time. */
const FULL_BATCH_BYTES = 256 * 1024;
/** The smallest batch buffer; one more than four times larger than the batch it held is let go after writing. */
const FIRST_BATCH_BYTES = 16 * 1024;
/** What one UTF-16 character can take in UTF-8: room for a line is made before its bytes are counted. */
const MAX_BYTES_PER_CHAR = 3;

/**
 * One follower of finished calls. Its queue is bounded: while its reader lags
 * by more than `maxQueuedBytes`, calls are dropped and counted, never waited
 * for, and the count goes to the reader in-band before the next call it gets.
 * While the calls held from before are still being written to it, live calls
 * wait in the same bounded queue, so the reader sees them in order. Live
 * lines go out in batches (BATCH_MILLISECONDS, or sooner when full): a write
 * to a socket is a system call, and a busy node finishes calls by the
 * thousand a second. Each batch also wakes the reader, and a process woken
 * from sleep pays for cold caches: `criscope tail` woken every 100 ms
 * instead of every 20 ms uses about a quarter less CPU a line.
 * A batch gathers bytes, not strings: each line is encoded into it as it
 * comes and dies young, where a string kept for the batch's time may live
 * through a young-generation collection and be copied by it, and a batch of
 * strings is joined and encoded again when written. The socket gets a copy
 * of exactly the batch's bytes, so what a lagging reader holds is what the
 * queue bound counts, and the buffer serves the next batch.
 */
export class Subscriber {
  private lostCalls = 0;
  /** Live lines waiting for the held calls to be written first; undefined once they have been. */
  private waiting: string[] | undefined;
  private waitingBytes = 0;
  /** The bytes of the lines gathered for the next batch, from 0 to batchBytes. */
  private batch: Buffer | undefined;
  private batchBytes = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly fullBatchBytes: number;

  constructor(
    private readonly wants: (entry: CallEntry) => boolean,
    private readonly sink: LineSink,
    private readonly maxQueuedBytes: number,
  ) {
    // A full batch leaves the queue room: the batch counts against the queue bound until it is written.
    this.fullBatchBytes = Math.min(FULL_BATCH_BYTES, Math.ceil(maxQueuedBytes / 4));
  }

  /** Calls dropped for this subscriber so far, and not yet reported to it. */
  get lost(): number {
    return this.lostCalls;
  }

  /** Live calls wait from now until `release()`: the calls held from before go first. */
  hold(): void {
    this.waiting ??= [];
  }

  /** Writes the live calls that waited, and from now on each as it comes. */
  release(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    this.waitingBytes = 0;
    for (const line of waiting ?? []) this.sink.write(line);
  }

  /**
   * Offers a finished call. Its JSON line is asked for only when this
   * subscriber wants the call: a follower with a narrow filter costs the
   * calls it leaves out no line at all. `line` makes it once for all subscribers.
   */
  offer(entry: CallEntry, line: () => string): void {
    if (!this.wants(entry)) return;
    if (this.sink.writableLength + this.waitingBytes + this.batchBytes > this.maxQueuedBytes) {
      this.lostCalls++;
      return;
    }
    if (this.lostCalls > 0) {
      const lost: LostLine = { v: CALL_ENTRY_VERSION, lost: this.lostCalls };
      this.lostCalls = 0;
      this.send(`${JSON.stringify(lost)}\n`);
    }
    this.send(line());
  }

  /** Drops the batch not yet written: the reader is gone. */
  close(): void {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.batch = undefined;
    this.batchBytes = 0;
  }

  /** Writes the batch gathered so far now (criscope is stopping, or the batch is due). */
  flush(): void {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const batch = this.batch;
    const length = this.batchBytes;
    this.batchBytes = 0;
    if (batch === undefined || length === 0) return;
    // A copy: the sink keeps its bytes until the reader takes them, and this buffer gathers the next batch.
    this.sink.write(Buffer.from(batch.subarray(0, length)));
    // A buffer a burst grew is let go once batches are small again.
    if (batch.length > FIRST_BATCH_BYTES && length * 4 < batch.length) this.batch = undefined;
  }

  private send(text: string): void {
    if (this.waiting !== undefined) {
      this.waiting.push(text);
      this.waitingBytes += text.length;
      return;
    }
    const room = text.length * MAX_BYTES_PER_CHAR;
    const batch = this.batchWithRoom(room);
    this.batchBytes += batch.write(text, this.batchBytes);
    if (this.batchBytes >= this.fullBatchBytes) this.flush();
    else this.batchTimer ??= setTimeout(() => this.flush(), BATCH_MILLISECONDS);
  }

  /** The batch buffer, grown when it has less than `room` bytes free. */
  private batchWithRoom(room: number): Buffer {
    const batch = this.batch;
    const needed = this.batchBytes + room;
    if (batch !== undefined && batch.length >= needed) return batch;
    const grown = Buffer.allocUnsafe(Math.max(needed, batch === undefined ? FIRST_BATCH_BYTES : batch.length * 2));
    if (batch !== undefined) batch.copy(grown, 0, 0, this.batchBytes);
    this.batch = grown;
    return grown;
  }
}
