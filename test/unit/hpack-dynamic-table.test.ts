import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DynamicTable } from '../../src/relay/hpack/dynamic-table.js';
import { HpackError } from '../../src/relay/hpack/errors.js';
import { prng } from '../support/seeded-random.js';

/** The first index past the static table (RFC 7541 §2.3.3). */
const FIRST_DYNAMIC = 62;

/** What RFC 7541 §4 says the table holds, written as plainly as possible: a list, newest first. */
class PlainTable {
  entries: [string, string][] = [];
  constructor(public maxSize: number) {}
  get size(): number {
    return this.entries.reduce((total, [name, value]) => total + name.length + value.length + 32, 0);
  }
  insert(name: string, value: string): boolean {
    const fits = name.length + value.length + 32 <= this.maxSize;
    this.entries = fits ? [[name, value], ...this.entries] : [];
    while (this.size > this.maxSize) this.entries.pop();
    return fits;
  }
  resize(maxSize: number): void {
    this.maxSize = maxSize;
    while (this.size > maxSize) this.entries.pop();
  }
}

describe('DynamicTable', () => {
  it('indexes entries newest first and evicts the oldest to make room', () => {
    const table = new DynamicTable(2 * (32 + 2));
    table.insert('a', '1');
    table.insert('b', '2');
    assert.equal(table.name(table.slot(FIRST_DYNAMIC, 0)), 'b');
    assert.equal(table.value(table.slot(FIRST_DYNAMIC + 1, 0)), '1');
    table.insert('c', '3');
    assert.deepEqual(table.entries(), [['c', '3'], ['b', '2']], 'a, the oldest, made room');
    assert.equal(table.tableSize, 68);
    assert.throws(() => table.slot(FIRST_DYNAMIC + 2, 7), (error: unknown) => error instanceof HpackError && /index 64 is out of range/.test(error.message));
  });

  it('empties itself for an entry larger than its maximum size, and does not add it (§4.4)', () => {
    const table = new DynamicTable(100);
    table.insert('a', '1');
    assert.equal(table.insert('x', 'y'.repeat(100)), false);
    assert.equal(table.length, 0);
    assert.equal(table.tableSize, 0);
  });

  it('shrinks its ring after a smaller size update, keeping the entries that fit', () => {
    const table = new DynamicTable(65_536);
    for (let i = 0; i < 1000; i++) table.insert(`n${i}`, 'v');
    assert.equal(table.capacity, 1024);
    table.resize(4096);
    assert.equal(table.capacity, 128, 'room for the 4096 / 32 entries that can fit, no more');
    assert.equal(table.name(table.slot(FIRST_DYNAMIC, 0)), 'n999', 'the newest kept, still first');
    assert.ok(table.tableSize <= 4096);
  });

  it('forgets a shadowed value with its entry', () => {
    const table = new DynamicTable(2 * (32 + 2));
    table.insert('a', '1');
    table.shadow(table.lastInsertion, '9');
    assert.equal(table.receiverValue(table.slot(FIRST_DYNAMIC, 0)), '9');
    assert.equal(table.shadowedEntries, 1);
    table.insert('b', '2');
    table.insert('c', '3');
    assert.equal(table.shadowedEntries, 0);
    assert.equal(table.receiverValue(table.slot(FIRST_DYNAMIC + 1, 0)), undefined, "b now sits where a's shadow was");
  });

  it('holds what RFC 7541 §4 says, over random insertions and size updates', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = prng(seed);
      const table = new DynamicTable(4096);
      const plain = new PlainTable(4096);
      for (let step = 0; step < 500; step++) {
        if (random() < 0.05) {
          const maxSize = Math.floor(random() * 8192);
          table.resize(maxSize);
          plain.resize(maxSize);
        } else {
          const name = `n${Math.floor(random() * 20)}`;
          const value = 'v'.repeat(Math.floor(random() * (random() < 0.1 ? 5000 : 100)));
          assert.equal(table.insert(name, value), plain.insert(name, value), `seed ${seed}, step ${step}`);
        }
        assert.equal(table.tableSize, plain.size, `seed ${seed}, step ${step}`);
        assert.ok(table.tableSize <= table.maxTableSize);
      }
      assert.deepEqual(table.entries(), plain.entries, `seed ${seed}`);
    }
  });
});
