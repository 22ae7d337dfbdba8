import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GrpcMessageScanner } from '../../src/relay/grpc-frames.js';
import { KeepBudget } from '../../src/relay/keep-budget.js';

function frame(payload: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** Feeds `bytes` in chunks cut at `cuts`. */
function feed(scanner: GrpcMessageScanner, bytes: Buffer, cuts: number[]): void {
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    scanner.push(bytes.subarray(start, cut));
    start = cut;
  }
}

describe('GrpcMessageScanner', () => {
  const first = Buffer.from('first message');
  const stream = Buffer.concat([frame(first, true), frame(Buffer.alloc(0)), frame(Buffer.alloc(1000, 7))]);

  it('counts messages and payload bytes however the stream is cut', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      for (const second of [cut + 1, cut + 3, stream.length - 1]) {
        if (second <= cut || second >= stream.length) continue;
        const scanner = new GrpcMessageScanner(1024);
        feed(scanner, stream, [cut, second]);
        assert.equal(scanner.messages, 3, `cut at ${cut}, ${second}`);
        assert.equal(scanner.payloadBytes, first.length + 1000);
        assert.deepEqual(scanner.first?.payload, first);
        assert.equal(scanner.first?.compressed, true);
      }
    }
  });

  it('keeps nothing when asked to keep nothing', () => {
    const scanner = new GrpcMessageScanner(0);
    scanner.push(stream);
    assert.equal(scanner.messages, 3);
    assert.equal(scanner.first, undefined);
  });

  it('does not keep a first message over the limit', () => {
    const scanner = new GrpcMessageScanner(4);
    scanner.push(stream);
    assert.equal(scanner.first, undefined);
  });

  it('keeps a copy: the chunks it was fed may be overwritten after', () => {
    const bytes = Buffer.from(stream);
    const scanner = new GrpcMessageScanner(1024);
    feed(scanner, bytes, [3, 9]);
    bytes.fill(0);
    assert.deepEqual(scanner.first?.payload, first);
  });

  it('keeps an empty first message', () => {
    const scanner = new GrpcMessageScanner(10);
    scanner.push(frame(Buffer.alloc(0)));
    assert.deepEqual(scanner.first?.payload, Buffer.alloc(0));
  });

  it('counts a message once its prefix is in, even before its payload', () => {
    const scanner = new GrpcMessageScanner(0);
    scanner.push(stream.subarray(0, 3));
    assert.equal(scanner.messages, 0);
    scanner.push(stream.subarray(3, 10));
    assert.equal(scanner.messages, 1);
  });
});

describe('GrpcMessageScanner counting a list response', () => {
  // A ListContainersResponse-like message: field 1 (containers) three times, field 2 (unknown here) once.
  const list = Buffer.from([0x0a, 0x02, 0x08, 0x01, 0x12, 0x00, 0x0a, 0x00, 0x0a, 0x01, 0x05]);

  it('counts the items as they go by, however cut, and keeps nothing', () => {
    const budget = new KeepBudget(1000);
    const bytes = Buffer.concat([frame(list), frame(list)]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const scanner = new GrpcMessageScanner(1024, budget, 1);
      feed(scanner, bytes, [cut]);
      assert.equal(scanner.firstCounted?.total(), 3, `cut at ${cut}`);
      assert.equal(scanner.first, undefined);
      assert.equal(scanner.messages, 2);
      assert.equal(budget.used, 0);
    }
  });

  it('has no count before the first message has ended', () => {
    const scanner = new GrpcMessageScanner(1024, undefined, 1);
    scanner.push(frame(list).subarray(0, 9));
    assert.equal(scanner.firstCounted, undefined);
  });

  it('keeps a compressed list instead, to be counted once decompressed', () => {
    const scanner = new GrpcMessageScanner(1024, undefined, 1);
    scanner.push(frame(list, true));
    assert.equal(scanner.firstCounted, undefined);
    assert.deepEqual(scanner.first, { compressed: true, payload: list });
  });

  it('counts a list however large, past the size it would keep', () => {
    const item = Buffer.concat([Buffer.from([0x0a, 0x80, 0x08]), Buffer.alloc(1024, 0x41)]);
    const large = Buffer.concat(Array<Buffer>(300).fill(item));
    const scanner = new GrpcMessageScanner(1024, undefined, 1);
    feed(scanner, frame(large), [70_000, 140_000]);
    assert.equal(scanner.firstCounted?.total(), 300);
    assert.equal(scanner.notKept, undefined);
  });
});

describe('GrpcMessageScanner with a keep budget', () => {
  const message = Buffer.alloc(600, 1);

  it('takes a kept message from the budget as its prefix arrives, and gives it back on release', () => {
    const budget = new KeepBudget(1000);
    const scanner = new GrpcMessageScanner(1024, budget);
    const bytes = frame(message);
    scanner.push(bytes.subarray(0, 10));
    assert.equal(budget.used, 600, 'the whole declared length, before the payload has come');
    scanner.push(bytes.subarray(10));
    assert.deepEqual(scanner.first?.payload, message);
    assert.equal(scanner.notKept, undefined);
    scanner.release();
    assert.equal(budget.used, 0);
    assert.deepEqual(scanner.first?.payload, message, 'the record still has the message');
    scanner.release();
    assert.equal(budget.used, 0, 'a second release gives nothing back');
  });

  it('keeps nothing over the budget, says so, and still counts the message', () => {
    const budget = new KeepBudget(1000);
    const kept = new GrpcMessageScanner(1024, budget);
    kept.push(frame(message));
    const refused = new GrpcMessageScanner(1024, budget);
    refused.push(Buffer.concat([frame(message), frame(Buffer.alloc(10))]));
    assert.equal(refused.first, undefined);
    assert.equal(refused.notKept, 'over budget');
    assert.equal(refused.messages, 2);
    assert.equal(refused.payloadBytes, 610);
    assert.equal(budget.used, 600, 'only the kept message counts');
    refused.release();
    assert.equal(budget.used, 600, 'a refused scanner has nothing to give back');
    kept.release();
    const next = new GrpcMessageScanner(1024, budget);
    next.push(frame(message));
    assert.deepEqual(next.first?.payload, message, 'the budget lends again once the first call gave back');
  });

  it('tells a message over the size limit apart, and takes nothing for it', () => {
    const budget = new KeepBudget(1000);
    const scanner = new GrpcMessageScanner(100, budget);
    scanner.push(frame(message));
    assert.equal(scanner.notKept, 'too large');
    assert.equal(budget.used, 0);
  });

  it('takes nothing when asked to keep nothing', () => {
    const budget = new KeepBudget(1000);
    const scanner = new GrpcMessageScanner(0, budget);
    scanner.push(frame(message));
    assert.equal(scanner.notKept, undefined);
    assert.equal(budget.used, 0);
  });

  it('gives back what a message cut off halfway took', () => {
    const budget = new KeepBudget(1000);
    const scanner = new GrpcMessageScanner(1024, budget);
    scanner.push(frame(message).subarray(0, 300));
    assert.equal(budget.used, 600);
    scanner.release();
    assert.equal(budget.used, 0);
    assert.equal(scanner.first, undefined);
  });
});
