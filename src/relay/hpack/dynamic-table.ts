/**
 * The dynamic table of one HPACK context (RFC 7541 §2.3.2, §4): entries
 * newest first, evicted oldest first to keep within the table's maximum size.
 * It is a ring of parallel arrays, newest entry at `head`, so an insertion or
 * eviction is O(1) and allocates nothing but (rarely) a bigger ring.
 */
import { HpackError } from './errors.js';
import { STATIC_TABLE_LENGTH } from './static-table.js';

/** RFC 7541 §4.1: an entry's size counts 32 octets of bookkeeping on top of name and value. */
const ENTRY_OVERHEAD = 32;
const INITIAL_CAPACITY = 16;

export class DynamicTable {
  private maxSize: number;
  private size = 0;
  private names: string[] = new Array<string>(INITIAL_CAPACITY).fill('');
  private values: string[] = new Array<string>(INITIAL_CAPACITY).fill('');
  /** The receiver's value of an entry, where it differs from the sender's (see shadow()). */
  private shadows: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY).fill(undefined);
  private shadowCount = 0;
  /** Entries inserted so far: the serial of the next one. */
  private insertions = 0;
  private mask = INITIAL_CAPACITY - 1;
  private head = 0;
  private count = 0;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  /** Current maximum size (the last size update, or the initial one). */
  get maxTableSize(): number {
    return this.maxSize;
  }

  /** Octets the entries take, as RFC 7541 §4.1 counts them. */
  get tableSize(): number {
    return this.size;
  }

  /** Number of entries. */
  get length(): number {
    return this.count;
  }

  /** Slots of the ring (grows with the entries, shrinks with the maximum size). */
  get capacity(): number {
    return this.names.length;
  }

  /** The serial the last inserted entry got. */
  get lastInsertion(): number {
    return this.insertions - 1;
  }

  /** Entries whose receiver holds another value (shadow()). */
  get shadowedEntries(): number {
    return this.shadowCount;
  }

  /** The ring slot of HPACK index `index` (past the static table); `at` is where the block referred to it, for the error. */
  slot(index: number, at: number): number {
    const offset = index - STATIC_TABLE_LENGTH - 1;
    if (offset >= this.count) throw new HpackError(`index ${index} is out of range (${STATIC_TABLE_LENGTH} static + ${this.count} dynamic entries)`, at);
    return (this.head + offset) & this.mask;
  }

  name(slot: number): string {
    return this.names[slot];
  }

  value(slot: number): string {
    return this.values[slot];
  }

  /** The receiver's value of the entry in `slot`, where criscope made it differ (shadow()). */
  receiverValue(slot: number): string | undefined {
    return this.shadows[slot];
  }

  /** Adds an entry, evicting the oldest to make room; returns whether it went in. */
  insert(name: string, value: string): boolean {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // §4.4: an entry larger than the whole table empties it and is not added.
    if (size > this.maxSize) {
      this.evictDownTo(0);
      return false;
    }
    this.evictDownTo(this.maxSize - size);
    if (this.count === this.names.length) this.resizeRing(this.names.length * 2);
    this.head = (this.head - 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += size;
    this.insertions++;
    return true;
  }

  /** A dynamic table size update (§6.3): evicts down to the new size, and shrinks the ring to what can fit in it. */
  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictDownTo(maxSize);
    // No more than maxSize / 32 entries can fit, so slots past that would only hold memory for a size the encoder gave up.
    let capacity = INITIAL_CAPACITY;
    while (capacity * ENTRY_OVERHEAD < maxSize) capacity *= 2;
    if (capacity < this.names.length) this.resizeRing(capacity);
  }

  /**
   * Records that the receiver holds `value` where the sender inserted the
   * entry of serial `insertion`. No-op for an entry already evicted.
   */
  shadow(insertion: number, value: string): void {
    const offset = this.insertions - 1 - insertion;
    if (insertion < 0 || offset < 0 || offset >= this.count) return;
    const slot = (this.head + offset) & this.mask;
    if (value.length !== this.values[slot].length) throw new RangeError("a shadow value must be as long as the entry's value");
    if (this.shadows[slot] === undefined) this.shadowCount++;
    this.shadows[slot] = value;
  }

  /** The entries, newest first (index 62 first). */
  entries(): [string, string][] {
    const entries: [string, string][] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      entries.push([this.names[slot], this.values[slot]]);
    }
    return entries;
  }

  private evictDownTo(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head + this.count - 1) & this.mask;
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD;
      // Drop the references so long evicted values can be collected.
      this.names[slot] = '';
      this.values[slot] = '';
      if (this.shadows[slot] !== undefined) {
        this.shadows[slot] = undefined;
        this.shadowCount--;
      }
      this.count--;
    }
  }

  private resizeRing(capacity: number): void {
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    const shadows = new Array<string | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      names[i] = this.names[slot];
      values[i] = this.values[slot];
      shadows[i] = this.shadows[slot];
    }
    this.names = names;
    this.values = values;
    this.shadows = shadows;
    this.mask = capacity - 1;
    this.head = 0;
  }
}
