import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ReadBuffers } from '../../src/relay/read-buffers.js';

describe('ReadBuffers', () => {
  it('reads into the same buffer again once the client has caught up', () => {
    const buffers = new ReadBuffers(() => true);
    const first = buffers.next();
    assert.equal(first.length, 64 * 1024);
    assert.equal(buffers.next(), first);
    assert.equal(buffers.next(), first);
  });

  it('never lends a buffer again while writes from it may still wait', () => {
    let caughtUp = false;
    const buffers = new ReadBuffers(() => caughtUp);
    const lent = [buffers.next(), buffers.next(), buffers.next()];
    assert.equal(new Set(lent).size, 3, 'a new buffer for each read while the client lags');
    caughtUp = true;
    const reused = buffers.next();
    assert.ok(lent.includes(reused), 'once it has caught up, one of them is read into again');
    caughtUp = false;
    const next = buffers.next();
    assert.notEqual(next, reused, 'the one just lent waits, while another of the pool is free');
    assert.ok(lent.includes(next), 'the pool is used before anything is allocated');
  });

  it('keeps at most 8 buffers: past them, reads get buffers that are not reused', () => {
    let caughtUp = false;
    const buffers = new ReadBuffers(() => caughtUp);
    const lent = Array.from({ length: 12 }, () => buffers.next());
    assert.equal(new Set(lent).size, 12);
    caughtUp = true;
    const afterCatchUp = [buffers.next()];
    caughtUp = false;
    for (let read = 1; read < 9; read++) afterCatchUp.push(buffers.next());
    assert.deepEqual(new Set(afterCatchUp.slice(0, 8)), new Set(lent.slice(0, 8)), 'the first 8 are pooled, and lent again');
    assert.ok(!lent.includes(afterCatchUp[8]), 'the ninth read at once gets a new buffer');
  });
});
