import { CALL_ENTRY_VERSION, type CallEntry } from './call-entry.js';

/** Where a subscriber's lines go: an HTTP response, in practice. */
export interface LineSink {
  /** Bytes written but not yet taken by the reader. */
  readonly writableLength: number;
  write(line: string): unknown;
}

/** The line that tells a subscriber how many calls it lost while it did not read. */
export interface LostLine {
  readonly v: typeof CALL_ENTRY_VERSION;
  readonly lost: number;
}

/**
 * One follower of finished calls. Its queue is bounded: while its reader lags
 * by more than `maxQueuedBytes`, calls are dropped and counted, never waited
 * for, and the count goes to the reader in-band before the next call it gets.
 */
export class Subscriber {
  private lostCalls = 0;

  constructor(
    private readonly wants: (entry: CallEntry) => boolean,
    private readonly sink: LineSink,
    private readonly maxQueuedBytes: number,
  ) {}

  /** Calls dropped for this subscriber so far, and not yet reported to it. */
  get lost(): number {
    return this.lostCalls;
  }

  /** Offers a finished call; `line` gives its JSON line, made once however many subscribers want it. */
  offer(entry: CallEntry, line: () => string): void {
    if (!this.wants(entry)) return;
    if (this.sink.writableLength > this.maxQueuedBytes) {
      this.lostCalls++;
      return;
    }
    if (this.lostCalls > 0) {
      const lost: LostLine = { v: CALL_ENTRY_VERSION, lost: this.lostCalls };
      this.sink.write(`${JSON.stringify(lost)}\n`);
      this.lostCalls = 0;
    }
    this.sink.write(line());
  }
}
