/** Each record's length, written before it, so the ring can step from one record to the next. */
const LENGTH_PREFIX_BYTES = 4;

/** The buffer a ring starts with; it grows from here, up to the byte bound, as its calls need. */
const FIRST_CAPACITY_BYTES = 64 * 1024;
/** Room a grown buffer leaves beyond what its count bound needs at the records' mean size so far, for records larger than the first. */
const COUNT_BOUND_MARGIN = 1.25;
/** Records seen before their mean size says what the count bound needs: a few large ones alone would say too much. */
const RECORDS_FOR_MEAN = 100;

/** Where one record is to be written: the bytes reserved for it are free from `offset` on. */
export interface RecordSlot {
  readonly buffer: Buffer;
  readonly offset: number;
}

/**
 * The last calls, each as a record of bytes, oldest first, bounded by count
 * and by bytes: adding past either bound drops the oldest. A bound of 0 keeps
 * nothing. Records lie end to end in one buffer, so a call kept is no object
 * at all: thousands of objects held for minutes would be promoted and traced
 * by V8's collector, at a cost paid on every call. The buffer starts small
 * and grows only while more calls than it fits are to be kept, so a ring
 * that reaches its count bound first touches only the memory its calls need.
 * It grows at once to what the count bound needs at the size of the records
 * so far: each buffer it outgrows is garbage that only V8's old-generation
 * collector frees, which may not run for a long while, so growing by doubling
 * would hold nearly twice the ring's memory.
 */
export class FlightRing {
  private buffer: Buffer;
  /** Where the next record goes. */
  private head = 0;
  /** Where the oldest record starts. */
  private tail = 0;
  /** Once records have wrapped to the buffer's start: where the older lap's records end; -1 before. */
  private wrapEnd = -1;
  private count = 0;
  private heldBytes = 0;
  /** The bytes reserve() set aside for the record being written; -1 when none is. */
  private reserved = -1;

  constructor(
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafeSlow(this.keeps ? Math.min(maxBytes, FIRST_CAPACITY_BYTES) : 0);
  }

  get size(): number {
    return this.count;
  }

  /** The bytes of the records held, their length prefixes included. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The bytes of the buffer the records lie in. */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Whether it keeps records at all (neither bound is 0). */
  get keeps(): boolean {
    return this.maxRecords > 0 && this.maxBytes > 0;
  }

  /**
   * Makes room for a record of at most `recordBytes`, dropping the oldest as
   * the bounds require, and says where to write it; commit() then keeps it.
   * Undefined when the ring keeps nothing, or a record that large could never fit.
   */
  reserve(recordBytes: number): RecordSlot | undefined {
    const needed = LENGTH_PREFIX_BYTES + recordBytes;
    if (!this.keeps || needed > this.maxBytes) return undefined;
    while (this.count >= this.maxRecords) this.dropOldest();
    this.makeRoom(needed);
    this.reserved = recordBytes;
    return { buffer: this.buffer, offset: this.head + LENGTH_PREFIX_BYTES };
  }

  /** Keeps the record just written into the slot reserve() gave: its first `length` bytes. */
  commit(length: number): void {
    if (this.reserved < 0) throw new RangeError('a record committed without reserve()');
    if (length > this.reserved) throw new RangeError(`a record of ${length} bytes overran the ${this.reserved} reserved for it`);
    this.buffer.writeUInt32LE(length, this.head);
    this.head += LENGTH_PREFIX_BYTES + length;
    this.heldBytes += LENGTH_PREFIX_BYTES + length;
    this.count++;
    this.reserved = -1;
  }

  /** Each record held, oldest first, as a view into the ring: read it before the next reserve(). */
  *[Symbol.iterator](): IterableIterator<Buffer> {
    let at = this.tail;
    for (let index = 0; index < this.count; index++) {
      if (at === this.wrapEnd) at = 0;
      const length = this.buffer.readUInt32LE(at);
      yield this.buffer.subarray(at + LENGTH_PREFIX_BYTES, at + LENGTH_PREFIX_BYTES + length);
      at += LENGTH_PREFIX_BYTES + length;
    }
  }

  /** Frees `needed` bytes at the head: by wrapping to the start, growing the buffer, or dropping the oldest records, in that order of preference. */
  private makeRoom(needed: number): void {
    for (;;) {
      if (this.count === 0) {
        this.head = 0;
        this.tail = 0;
        this.wrapEnd = -1;
        if (this.buffer.length < needed) this.grow(needed);
        return;
      }
      if (this.wrapEnd < 0) {
        if (this.buffer.length - this.head >= needed) return;
        if (this.tail < needed && this.buffer.length < this.maxBytes) {
          this.grow(needed);
          continue;
        }
        this.wrapEnd = this.head;
        this.head = 0;
      }
      if (this.tail - this.head >= needed) return;
      if (this.buffer.length < this.maxBytes) this.grow(needed);
      else this.dropOldest();
    }
  }

  /**
   * A buffer large enough for the count bound at the records' mean size so
   * far (once there are enough to tell), and at least twice as large as this
   * one (within the byte bound), with the records moved to its start, oldest
   * first.
   */
  private grow(needed: number): void {
    const forCountBound = this.count < RECORDS_FOR_MEAN ? 0 : Math.ceil((this.heldBytes / this.count) * this.maxRecords * COUNT_BOUND_MARGIN);
    const capacity = Math.min(this.maxBytes, Math.max(this.buffer.length * 2, this.heldBytes + needed, forCountBound));
    const grown = Buffer.allocUnsafeSlow(capacity);
    let filled = 0;
    if (this.count > 0) {
      const firstLapEnd = this.wrapEnd < 0 ? this.head : this.wrapEnd;
      filled += this.buffer.copy(grown, 0, this.tail, firstLapEnd);
      if (this.wrapEnd >= 0) filled += this.buffer.copy(grown, filled, 0, this.head);
    }
    this.buffer = grown;
    this.tail = 0;
    this.head = filled;
    this.wrapEnd = -1;
  }

  private dropOldest(): void {
    const length = LENGTH_PREFIX_BYTES + this.buffer.readUInt32LE(this.tail);
    this.tail += length;
    this.heldBytes -= length;
    this.count--;
    if (this.tail === this.wrapEnd) {
      this.tail = 0;
      this.wrapEnd = -1;
    }
  }
}
