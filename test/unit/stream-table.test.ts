import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamTable } from '../../src/relay/stream-table.js';

/** A small seeded generator, so that a failing sequence can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function sameAs(table: StreamTable<string>, model: Map<number, string>, context: string): void {
  assert.equal(table.size, model.size, `${context}: size`);
  const expected = [...model.entries()].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(table.entries(), expected, `${context}: entries`);
  assert.deepEqual(table.valuesById(), expected.map(([, value]) => value), `${context}: values`);
}

describe('a stream table', () => {
  it('does what a Map does, over random opens and ends of rising stream ids, through growth and wrap-around', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const table = new StreamTable<string>();
      const model = new Map<number, string>();
      let nextId = 1 + 2 * Math.floor(next() * 1000);
      // Up to 300 open at once: the table grows from 32 slots several times.
      const most = 1 + Math.floor(next() * 300);
      for (let step = 0; step < 3000; step++) {
        const open = [...model.keys()];
        if (open.length < most && (open.length === 0 || next() < 0.55)) {
          const value = `call ${nextId}`;
          table.set(nextId, value);
          model.set(nextId, value);
          nextId += 2;
        } else {
          const id = open[Math.floor(next() * open.length)] ?? 1;
          assert.equal(table.delete(id), model.delete(id), `seed ${seed} step ${step}: delete ${id}`);
        }
        // An id never opened is not found; every open one is, and every ended one is not.
        assert.equal(table.get(nextId), undefined);
        assert.equal(table.has(nextId), false);
        if (step % 50 === 0) {
          for (let id = 1; id < nextId; id += 2) assert.equal(table.get(id), model.get(id), `seed ${seed} step ${step}: get ${id}`);
        }
      }
      sameAs(table, model, `seed ${seed}`);
    }
  });

  it('finds every id after deletions in the middle of runs that wrap past the last slot', () => {
    // Ids 63, 65, 1, 3, 5 home to the last slot and the first ones of a 32-slot table: one run across the end.
    const table = new StreamTable<string>();
    const model = new Map<number, string>();
    for (const id of [63, 127, 191, 1, 65, 3]) {
      table.set(id, `v${id}`);
      model.set(id, `v${id}`);
    }
    for (const id of [127, 1, 63]) {
      table.delete(id);
      model.delete(id);
      sameAs(table, model, `after deleting ${id}`);
      for (const kept of model.keys()) assert.equal(table.get(kept), `v${kept}`, `${kept} after deleting ${id}`);
    }
  });

  it('holds the highest stream id, replaces the value of an id it holds, and refuses ids that are no stream id', () => {
    const table = new StreamTable<string>();
    table.set(0x7fffffff, 'last');
    table.set(0x7fffffff - 64, 'before it, in the same slot');
    assert.equal(table.get(0x7fffffff), 'last');
    assert.equal(table.delete(0x7fffffff), true);
    assert.equal(table.get(0x7fffffff - 64), 'before it, in the same slot');
    table.clear();
    table.set(7, 'first');
    table.set(7, 'second');
    assert.equal(table.size, 1);
    assert.equal(table.get(7), 'second');
    assert.equal(table.delete(9), false);
    for (const id of [0, -1, 2 ** 31, 1.5]) assert.throws(() => table.set(id, 'x'), RangeError, `id ${id}`);
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.get(7), undefined);
  });
});
