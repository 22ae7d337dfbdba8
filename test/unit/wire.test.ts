import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { countFieldOccurrences } from '../../src/cri/wire.js';
import { criMethod } from '../support/cri-client.js';

/**
 * A list response as a newer runtime might send it: the items (field 1, as
 * ListContainersResponse.containers) among fields our proto does not know,
 * of every wire type, packed and unpacked.
 */
const EXTENDED_ROOT = protobuf.parse(`
  syntax = "proto3";
  message Item { string id = 1; map<string, string> labels = 2; }
  message ExtendedList {
    repeated Item items = 1;
    uint64 big = 2;
    fixed64 stamp = 3;
    string note = 4;
    fixed32 small = 5;
    repeated int32 packed_numbers = 6;
    repeated int32 unpacked_numbers = 7 [packed = false];
    double ratio = 8;
    sint64 delta = 9;
    repeated Item other_items = 10;
  }
`, { keepCase: true }).root;
// Resolving settles each field's encoding (packed or not) before the first encode.
EXTENDED_ROOT.resolveAll();
const EXTENDED = EXTENDED_ROOT.lookupType('ExtendedList');

function items(count: number): { id: string; labels: Record<string, string> }[] {
  return Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, labels: { app: 'x'.repeat(index % 5) } }));
}

function encodeExtended(message: Record<string, unknown>): Buffer {
  return Buffer.from(EXTENDED.encode(EXTENDED.fromObject(message)).finish());
}

const WITH_EVERYTHING = encodeExtended({
  big: '18446744073709551615',
  stamp: '123456789',
  note: 'unknown to criscope',
  small: 7,
  packed_numbers: [1, 300, -1, 70000],
  unpacked_numbers: [5, 6, 7],
  ratio: 0.25,
  delta: '-42',
  other_items: items(2),
  items: items(9),
});

/** The offsets where a top-level field of `payload` starts, and how many `fieldNumber`s come before each. */
function fieldBoundaries(payload: Buffer, fieldNumber: number): Map<number, number> {
  const reader = protobuf.Reader.create(payload);
  const boundaries = new Map<number, number>();
  let seen = 0;
  while (reader.pos < reader.len) {
    boundaries.set(reader.pos, seen);
    const tag = reader.uint32();
    if (tag >>> 3 === fieldNumber) seen++;
    reader.skipType(tag & 7);
  }
  boundaries.set(reader.pos, seen);
  return boundaries;
}

describe('countFieldOccurrences on protobufjs-encoded lists', () => {
  it('counts a list response’s items as decoding it would', () => {
    const type = criMethod('ListContainers').responseType;
    for (const count of [1, 2, 127, 128, 1000]) {
      const payload = Buffer.from(type.encode(type.fromObject({ containers: items(count) })).finish());
      assert.equal(countFieldOccurrences([payload], 1), count, `${count} containers`);
    }
  });

  it('counts an empty list (an empty message) as none', () => {
    const type = criMethod('ListContainers').responseType;
    const payload = Buffer.from(type.encode(type.fromObject({})).finish());
    assert.equal(payload.length, 0);
    assert.equal(countFieldOccurrences([payload], 1), 0);
    assert.equal(countFieldOccurrences([], 1), 0);
  });

  it('skips fields it does not know, of every wire type, as protobufjs does', () => {
    assert.equal(countFieldOccurrences([WITH_EVERYTHING], 1), 9);
    assert.equal(countFieldOccurrences([WITH_EVERYTHING], 10), 2);
    // Our proto reads these bytes as a ListContainersResponse with the unknown fields left aside.
    const decoded = criMethod('ListContainers').responseType.decode(WITH_EVERYTHING) as unknown as { containers: unknown[] };
    assert.equal(decoded.containers.length, 9);
  });

  it('counts each element of an unpacked repeated scalar, and a packed run as one occurrence', () => {
    assert.equal(countFieldOccurrences([WITH_EVERYTHING], 7), 3);
    assert.equal(countFieldOccurrences([WITH_EVERYTHING], 6), 1);
  });

  it('counts the same whatever pieces the message arrived in', () => {
    for (let cut = 0; cut <= WITH_EVERYTHING.length; cut++) {
      const pieces = [WITH_EVERYTHING.subarray(0, cut), WITH_EVERYTHING.subarray(cut, cut + 1), Buffer.alloc(0), WITH_EVERYTHING.subarray(cut + 1)];
      assert.equal(countFieldOccurrences(pieces, 1), 9, `cut at ${cut}`);
    }
  });

  it('throws on a message cut short anywhere inside a field, and counts one cut between fields', () => {
    const boundaries = fieldBoundaries(WITH_EVERYTHING, 1);
    for (let length = 0; length <= WITH_EVERYTHING.length; length++) {
      const truncated = WITH_EVERYTHING.subarray(0, length);
      const before = boundaries.get(length);
      if (before === undefined) {
        assert.throws(() => countFieldOccurrences([truncated], 1), RangeError, `cut at ${length}`);
      } else {
        assert.equal(countFieldOccurrences([truncated], 1), before, `cut at ${length}`);
      }
    }
  });

  it('names where a message stops being protobuf', () => {
    assert.throws(() => countFieldOccurrences([Buffer.from([0x0a, 0x00, 0x0f])], 1), /unsupported wire type 7 at byte 2/);
    assert.throws(() => countFieldOccurrences([Buffer.from([0x0a, 0x00, 0x08, 0xff])], 1), /malformed varint at byte 3/);
    assert.throws(() => countFieldOccurrences([Buffer.from([0x08, ...Array<number>(10).fill(0xff), 0x01])], 1), /malformed varint at byte 1/);
    assert.throws(() => countFieldOccurrences([Buffer.from([0x0a, 0x05, 0x01])], 1), /message ends inside a field/);
  });
});
