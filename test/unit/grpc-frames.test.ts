import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GrpcMessageScanner } from '../../src/relay/grpc-frames.js';

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
