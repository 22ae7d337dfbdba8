/** The slots a table starts with; it doubles when half full. */
const FIRST_CAPACITY = 32;

/**
 * The values of one connection's open streams, by stream id: what a `Map`
 * would do, for the one map of the relay that every call writes and deletes.
 *
 * Why not a `Map`: with an insert and a delete for every call, a Map's
 * deleted entries keep filling its table, so it rebuilds the table every few calls,
 * and V8 links each old table to the next for the sake of live iterators. A
 * table that lived long enough to reach the old generation still points to
 * its young successors when it dies, and the young generation's collector
 * counts such pointers from old objects as live without checking, so each
 * call's objects outlive two collections, are promoted, and wait for a full
 * collection: criscope's heap grew by about 3 MB a second under load. Here
 * the slots are reused in place, a deleted slot is emptied at once, and the
 * slots a table outgrows are emptied before it is dropped.
 *
 * Open addressing with linear probing, and deletion by moving later entries
 * of the same run back (no tombstones). A client's stream ids are odd and
 * rise by two, so id / 2 spreads consecutive streams over consecutive slots.
 */
export class StreamTable<Value> {
  private ids = new Int32Array(FIRST_CAPACITY);
  private values: (Value | undefined)[] = new Array<Value | undefined>(FIRST_CAPACITY).fill(undefined);
  private mask = FIRST_CAPACITY - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(streamId: number): Value | undefined {
    const slot = this.slotOf(streamId);
    return slot < 0 ? undefined : this.values[slot];
  }

  has(streamId: number): boolean {
    return this.slotOf(streamId) >= 0;
  }

  /** Sets the value of `streamId` (a positive stream id), replacing any it had. */
  set(streamId: number, value: Value): void {
    if (!Number.isInteger(streamId) || streamId <= 0 || streamId > 0x7fffffff) throw new RangeError(`stream id ${streamId} is not a positive 31-bit integer`);
    if ((this.count + 1) * 2 > this.ids.length) this.grow();
    let slot = (streamId >>> 1) & this.mask;
    while (this.ids[slot] !== 0 && this.ids[slot] !== streamId) slot = (slot + 1) & this.mask;
    if (this.ids[slot] === 0) this.count++;
    this.ids[slot] = streamId;
    this.values[slot] = value;
  }

  delete(streamId: number): boolean {
    let slot = this.slotOf(streamId);
    if (slot < 0) return false;
    this.count--;
    // Later entries of the run move back into the gap when their home slot allows it, so a probe never stops early.
    for (let next = (slot + 1) & this.mask; this.ids[next] !== 0; next = (next + 1) & this.mask) {
      const home = (this.ids[next] >>> 1) & this.mask;
      // Whether `home` lies cyclically outside (slot, next]: then the entry at `next` may fill `slot`.
      const movable = slot <= next ? home <= slot || home > next : home <= slot && home > next;
      if (!movable) continue;
      this.ids[slot] = this.ids[next];
      this.values[slot] = this.values[next];
      slot = next;
    }
    this.ids[slot] = 0;
    this.values[slot] = undefined;
    return true;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.count = 0;
  }

  /** The entries, by stream id (the order a Map would keep, since ids only grow); a copy, safe to use while streams end. */
  entries(): [number, Value][] {
    const entries: [number, Value][] = [];
    // A slot with an id holds that id's value (an undefined one too, should Value allow it).
    for (let slot = 0; slot < this.ids.length; slot++) if (this.ids[slot] !== 0) entries.push([this.ids[slot], this.values[slot] as Value]);
    return entries.sort((a, b) => a[0] - b[0]);
  }

  /** The values, by stream id; a copy. */
  valuesById(): Value[] {
    return this.entries().map(([, value]) => value);
  }

  /** The slot of `streamId`, or -1. */
  private slotOf(streamId: number): number {
    for (let slot = (streamId >>> 1) & this.mask; this.ids[slot] !== 0; slot = (slot + 1) & this.mask) {
      if (this.ids[slot] === streamId) return slot;
    }
    return -1;
  }

  private grow(): void {
    const ids = this.ids;
    const values = this.values;
    const capacity = ids.length * 2;
    this.ids = new Int32Array(capacity);
    this.values = new Array<Value | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let slot = 0; slot < ids.length; slot++) if (ids[slot] !== 0) this.set(ids[slot], values[slot] as Value);
    // The outgrown slots may be in the old generation by now: emptied, they keep no young value alive after they die.
    values.fill(undefined);
  }
}
