import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ReadBuffers } from '../../src/relay/read-buffers.js';

/** A read of `bytes` into the buffer `buffers` gave: fills it as the socket would and returns what goes on. */
function readInto(buffers: ReadBuffers, buffer: Buffer, bytes: number, fill: number): Buffer {
  buffer.fill(fill, 0, bytes);
  return buffers.read(bytes);
}

describe('ReadBuffers', () => {
  it('passes a read on in the buffer itself, and reads into it again once the client has caught up', () => {
    const buffers = new ReadBuffers(() => true);
    const first = buffers.next();
    assert.equal(first.length, 64 * 1024);
    const passed = readInto(buffers, first, 100, 1);
    assert.equal(passed.buffer, first.buffer, 'no copy');
    assert.equal(passed.length, 100);
    assert.equal(buffers.next(), first);
  });

  it('never reads into a buffer whose bytes went on while writes from it may still wait', () => {
    let caughtUp = true;
    const buffers = new ReadBuffers(() => caughtUp);
    const first = buffers.next();
    const passed = readInto(buffers, first, 10, 1);
    // The write of those bytes did not finish at once.
    caughtUp = false;
    const second = buffers.next();
    assert.notEqual(second, first);
    assert.deepEqual(passed, Buffer.alloc(10, 1), 'what went on is as it was read');
    caughtUp = true;
    assert.ok([first, second].includes(buffers.next()), 'once caught up, the buffers are read into again');
  });

  it('passes a copy of just the bytes read while writes wait, so a few bytes never pin a whole buffer', () => {
    let caughtUp = true;
    const buffers = new ReadBuffers(() => caughtUp);
    readInto(buffers, buffers.next(), 10, 1);
    caughtUp = false;
    const second = buffers.next();
    const copies = [1, 2, 3].map((fill) => {
      const copy = readInto(buffers, second, 9, fill);
      assert.equal(buffers.next(), second, 'the same buffer again, since the read went on as a copy');
      return copy;
    });
    for (const [index, copy] of copies.entries()) {
      assert.notEqual(copy.buffer, second.buffer);
      assert.equal(copy.length, 9);
      assert.deepEqual(copy, Buffer.alloc(9, index + 1));
    }
  });
});
