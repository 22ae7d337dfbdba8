/** What a kept line costs beyond its characters: the string's header and its slot. */
const LINE_OVERHEAD_BYTES = 32;

/**
 * A kept line's memory, as its characters and a fixed overhead: one byte a
 * character for the usual lines, which are Latin-1; a line with a character
 * beyond that takes two bytes a character and is under-counted.
 */
export function lineBytes(line: string): number {
  return line.length + LINE_OVERHEAD_BYTES;
}

/**
 * The last calls, as their JSON lines, oldest first, bounded both by count
 * and by bytes: adding past either bound drops the oldest. A bound of 0 keeps
 * nothing. A call is kept as one flat string, not as an object: thousands of
 * objects held for minutes would each be promoted and then traced by V8's
 * collector, at a cost paid on every call; a string holds no references.
 */
export class FlightRing {
  private readonly lines: (string | undefined)[];
  private start = 0;
  private count = 0;
  private heldBytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {
    this.lines = new Array<string | undefined>(maxEntries).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  add(line: string): void {
    if (this.maxEntries === 0 || this.maxBytes === 0) return;
    const bytes = lineBytes(line);
    if (bytes > this.maxBytes) return;
    while (this.count > 0 && (this.count === this.maxEntries || this.heldBytes + bytes > this.maxBytes)) this.dropOldest();
    this.lines[(this.start + this.count) % this.maxEntries] = line;
    this.heldBytes += bytes;
    this.count++;
  }

  /** The lines held, oldest first. */
  *[Symbol.iterator](): IterableIterator<string> {
    for (let index = 0; index < this.count; index++) {
      const line = this.lines[(this.start + index) % this.maxEntries];
      if (line !== undefined) yield line;
    }
  }

  private dropOldest(): void {
    const oldest = this.lines[this.start];
    if (oldest !== undefined) this.heldBytes -= lineBytes(oldest);
    this.lines[this.start] = undefined;
    this.start = (this.start + 1) % this.maxEntries;
    this.count--;
  }
}
