import type { CallEntry } from './call-entry.js';

/** What an entry costs beyond its strings: the object, its numbers and field slots. */
const ENTRY_OVERHEAD_BYTES = 200;

/** An entry's memory, estimated from its strings (two bytes a character at worst) and a fixed overhead. */
export function entryBytes(entry: CallEntry): number {
  let bytes = ENTRY_OVERHEAD_BYTES;
  for (const value of Object.values(entry)) if (typeof value === 'string') bytes += value.length * 2;
  if (entry.policy !== undefined) bytes += (entry.policy.rule.length + entry.policy.reason.length) * 2;
  return bytes;
}

/**
 * The last calls, oldest first, bounded both by count and by (estimated)
 * bytes: adding past either bound drops the oldest. A bound of 0 keeps
 * nothing.
 */
export class FlightRing {
  private readonly entries: (CallEntry | undefined)[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private heldBytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {
    this.entries = new Array<CallEntry | undefined>(maxEntries).fill(undefined);
    this.sizes = new Array<number>(maxEntries).fill(0);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  add(entry: CallEntry): void {
    if (this.maxEntries === 0 || this.maxBytes === 0) return;
    const bytes = entryBytes(entry);
    if (bytes > this.maxBytes) return;
    while (this.count > 0 && (this.count === this.maxEntries || this.heldBytes + bytes > this.maxBytes)) this.dropOldest();
    const slot = (this.start + this.count) % this.maxEntries;
    this.entries[slot] = entry;
    this.sizes[slot] = bytes;
    this.heldBytes += bytes;
    this.count++;
  }

  /** The entries held, oldest first. */
  *[Symbol.iterator](): IterableIterator<CallEntry> {
    for (let index = 0; index < this.count; index++) {
      const entry = this.entries[(this.start + index) % this.maxEntries];
      if (entry !== undefined) yield entry;
    }
  }

  private dropOldest(): void {
    this.heldBytes -= this.sizes[this.start];
    this.entries[this.start] = undefined;
    this.sizes[this.start] = 0;
    this.start = (this.start + 1) % this.maxEntries;
    this.count--;
  }
}
