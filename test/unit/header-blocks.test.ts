import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HeaderBlockReader, type HeaderBlock } from '../../src/relay/header-blocks.js';
import { HpackDecoder } from '../../src/relay/hpack/decoder.js';
import { encodeHeaderList } from '../../src/relay/hpack/encoder.js';
import { Flag, FrameType, buildFrame } from '../../src/relay/http2-frames.js';
import { Literal, hpackInteger, indexedField, literalField } from '../support/hpack-bytes.js';
import { uint32 } from '../support/test-frames.js';
import { splitBlock } from '../support/test-frames.js';

const PATH = '/runtime.v1.RuntimeService/Version';
const MIB = 1024 * 1024;

/** :method POST and :scheme http from the static table, two fields the table keeps, one it does not. */
const REQUEST_BLOCK = Buffer.concat([
  indexedField(3),
  indexedField(6),
  literalField(Literal.WITH_INDEXING, ':path', PATH),
  literalField(Literal.WITH_INDEXING, 'content-type', 'application/grpc'),
  literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers'),
]);
const REQUEST_FIELDS = [':method', 'POST', ':scheme', 'http', ':path', PATH, 'content-type', 'application/grpc', 'te', 'trailers'];

/** A reader and every reason it gave for stopping. */
function readerWithReasons(): { reader: HeaderBlockReader; reasons: string[] } {
  const reasons: string[] = [];
  return { reader: new HeaderBlockReader((reason) => reasons.push(reason)), reasons };
}

/** Feeds a HEADERS or PUSH_PROMISE frame, or a CONTINUATION, as the relay does. */
function feed(reader: HeaderBlockReader, frame: Buffer): HeaderBlock | undefined {
  const type = frame[3];
  const flags = frame[4];
  const streamId = frame.readUInt32BE(5) & 0x7fffffff;
  return type === FrameType.CONTINUATION ? reader.continue(flags, frame) : reader.start(streamId, flags, frame, type);
}


/** Feeds every frame; returns what the last one ended, checking no earlier one ended a block. */
function feedAll(reader: HeaderBlockReader, frames: readonly Buffer[]): HeaderBlock | undefined {
  let block: HeaderBlock | undefined;
  frames.forEach((frame, index) => {
    block = feed(reader, frame);
    if (index < frames.length - 1) assert.equal(block, undefined, `frame ${index + 1} of ${frames.length} ends no block`);
  });
  return block;
}

/** The reason HpackDecoder gives for `block`, decoded on a fresh table. */
function decoderReason(block: Buffer): string {
  try {
    new HpackDecoder().decode(block);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('the block was meant not to decode');
}

describe('HeaderBlockReader', () => {
  it('reads a block in one HEADERS frame', () => {
    const { reader, reasons } = readerWithReasons();
    const block = feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 7, REQUEST_BLOCK));
    assert.deepEqual(block, { streamId: 7, endStream: true, promise: false, fields: REQUEST_FIELDS, bytes: REQUEST_BLOCK, changedTable: true });
    assert.deepEqual(reasons, []);
  });

  for (const sizes of [[1], [5, 0, 17], [REQUEST_BLOCK.length - 1], [0, 0, 0]]) {
    it(`reads the same fields from the block split over CONTINUATIONs (fragments ${sizes.join('/')} and the rest)`, () => {
      const { reader, reasons } = readerWithReasons();
      const block = feedAll(reader, splitBlock(5, REQUEST_BLOCK, sizes, Flag.END_STREAM));
      assert.deepEqual(block, { streamId: 5, endStream: true, promise: false, fields: REQUEST_FIELDS, bytes: REQUEST_BLOCK, changedTable: true });
      assert.deepEqual(reasons, []);
    });
  }

  it('takes END_STREAM from the HEADERS frame, not from a CONTINUATION', () => {
    const { reader } = readerWithReasons();
    const frames = splitBlock(1, REQUEST_BLOCK, [4]);
    // 0x1 means nothing on a CONTINUATION: the block still does not end its stream.
    frames[1][4] |= Flag.END_STREAM;
    assert.equal(feedAll(reader, frames)?.endStream, false);
  });

  it('keeps every byte of a CONTINUATION, which has no padding even with 0x8 set', () => {
    const { reader } = readerWithReasons();
    const frames = splitBlock(1, REQUEST_BLOCK, [4]);
    frames[1][4] |= Flag.PADDED;
    assert.deepEqual(feedAll(reader, frames)?.fields, REQUEST_FIELDS);
  });

  // Left unstripped, a zero pad octet reads as a literal with a missing name, and 0x80 as index 0: neither decodes.
  const padded = (padding: number): Buffer => Buffer.concat([Buffer.from([padding]), REQUEST_BLOCK, Buffer.alloc(padding)]);
  const priorityFields = Buffer.from([0x80, 0, 0, 3, 15]);
  const framings: { what: string; flags: number; payload: Buffer }[] = [
    { what: 'padded', flags: Flag.PADDED, payload: padded(6) },
    { what: 'padded with a zero pad length', flags: Flag.PADDED, payload: padded(0) },
    { what: 'PRIORITY-flagged', flags: Flag.PRIORITY, payload: Buffer.concat([priorityFields, REQUEST_BLOCK]) },
    { what: 'padded and PRIORITY-flagged', flags: Flag.PADDED | Flag.PRIORITY, payload: Buffer.concat([Buffer.from([3]), priorityFields, REQUEST_BLOCK, Buffer.alloc(3)]) },
  ];
  for (const { what, flags, payload } of framings) {
    it(`reads only the block fragment of a ${what} HEADERS frame`, () => {
      const { reader, reasons } = readerWithReasons();
      const block = feed(reader, buildFrame(FrameType.HEADERS, flags | Flag.END_HEADERS, 3, payload));
      assert.deepEqual(block?.fields, REQUEST_FIELDS);
      assert.deepEqual(block?.bytes, REQUEST_BLOCK, 'its octets without padding or priority');
      assert.deepEqual(reasons, []);
    });

    it(`reads a ${what} HEADERS frame continued by CONTINUATIONs`, () => {
      const { reader, reasons } = readerWithReasons();
      const frames = [buildFrame(FrameType.HEADERS, flags, 3, payload), buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, Buffer.alloc(0))];
      assert.deepEqual(feedAll(reader, frames)?.fields, REQUEST_FIELDS);
      assert.deepEqual(reasons, []);
    });
  }

  it('marks a PUSH_PROMISE block as a promise and reads it past the promised stream id and padding', () => {
    const { reader, reasons } = readerWithReasons();
    const plain = feed(reader, buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([uint32(2), REQUEST_BLOCK])));
    assert.deepEqual(plain, { streamId: 1, endStream: false, promise: true, fields: REQUEST_FIELDS, bytes: REQUEST_BLOCK, changedTable: true });
    // Its fields went into the table, so the same block now decodes with references to them: pad it instead.
    const paddedPromise = Buffer.concat([Buffer.from([4]), uint32(4), indexedField(63), Buffer.alloc(4)]);
    const paddedBlock = feed(reader, buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS | Flag.PADDED, 3, paddedPromise));
    assert.deepEqual(paddedBlock, { streamId: 3, endStream: false, promise: true, fields: [':path', PATH], bytes: indexedField(63), changedTable: false }, 'a reference to the table changes nothing in it');
    assert.deepEqual(reasons, []);
  });

  it('tells whether a block changed the dynamic table', () => {
    const { reader } = readerWithReasons();
    const blockOf = (streamId: number, payload: Buffer): HeaderBlock | undefined => feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, streamId, payload));
    assert.equal(blockOf(1, Buffer.concat([indexedField(3), literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers')]))?.changedTable, false, 'static entries and a literal kept out of the table');
    assert.equal(blockOf(3, literalField(Literal.NEVER_INDEXED, 'authorization', 'secret'))?.changedTable, false, 'a never-indexed literal');
    assert.equal(blockOf(5, literalField(Literal.WITH_INDEXING, 'grpc-status', '0'))?.changedTable, true, 'an insertion');
    assert.equal(blockOf(7, indexedField(62))?.changedTable, false, 'a reference to the entry just inserted');
    assert.equal(blockOf(9, hpackInteger(100, 0x1f, 0x20))?.changedTable, true, 'a dynamic table size update');
  });

  it('names the stream of an open call block, and none for an open PUSH_PROMISE', () => {
    const { reader } = readerWithReasons();
    assert.equal(reader.openCallStreamId, undefined, 'no block open');
    const [headers, ...continuations] = splitBlock(9, REQUEST_BLOCK, [3, 3]);
    feed(reader, headers);
    assert.equal(reader.openCallStreamId, 9);
    feed(reader, continuations[0]);
    assert.equal(reader.openCallStreamId, 9, 'still open after a CONTINUATION without END_HEADERS');
    feed(reader, continuations[1]);
    assert.equal(reader.openCallStreamId, undefined, 'the block ended');

    feed(reader, buildFrame(FrameType.PUSH_PROMISE, 0, 9, Buffer.concat([uint32(2), REQUEST_BLOCK.subarray(0, 3)])));
    assert.equal(reader.openCallStreamId, undefined, 'a promise is no call');
    const promise = feed(reader, buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 9, REQUEST_BLOCK.subarray(3)));
    assert.equal(promise?.promise, true);
  });

  it('carries the dynamic table from one block to the next', () => {
    const { reader, reasons } = readerWithReasons();
    feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, REQUEST_BLOCK));
    // 62 is the newest entry (content-type), 63 the one before (:path); te was not indexed.
    const second = Buffer.concat([indexedField(3), indexedField(6), indexedField(63), indexedField(62), literalField(Literal.WITHOUT_INDEXING, 'te', 'trailers')]);
    assert.deepEqual(feedAll(reader, splitBlock(3, second, [2]))?.fields, REQUEST_FIELDS);
    assert.deepEqual(reasons, []);
    assert.deepEqual(reader.decoder.tableEntries(), [
      ['content-type', 'application/grpc'],
      [':path', PATH],
    ]);
  });

  it('carries the dynamic table from a PUSH_PROMISE block to a call block', () => {
    const { reader } = readerWithReasons();
    feed(reader, buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([uint32(2), literalField(Literal.WITH_INDEXING, 'x-pushed', 'yes')])));
    assert.deepEqual(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, indexedField(62)))?.fields, ['x-pushed', 'yes']);
  });

  it('reads a block of 256 frames, the most it allows', () => {
    const { reader, reasons } = readerWithReasons();
    const frames = [buildFrame(FrameType.HEADERS, 0, 1, REQUEST_BLOCK), ...Array.from({ length: 254 }, () => buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0)))];
    frames.push(buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0)));
    assert.equal(frames.length, 256);
    assert.deepEqual(feedAll(reader, frames)?.fields, REQUEST_FIELDS);
    assert.deepEqual(reasons, []);
  });

  /** Checks that after giving up the reader said why once, and reads neither the rest of the block nor any later one. */
  function assertStoppedOnce(reader: HeaderBlockReader, reasons: readonly string[], reason: RegExp | string): void {
    assert.equal(reasons.length, 1, 'told once');
    if (typeof reason === 'string') assert.equal(reasons[0], reason);
    else assert.match(reasons[0], reason);
    assert.equal(reader.openCallStreamId, undefined, 'no block open');
    assert.equal(feed(reader, buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0))), undefined, 'the rest of the block is not read');
    assert.equal(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 3, REQUEST_BLOCK)), undefined, 'a later block is not read');
    feed(reader, buildFrame(FrameType.HEADERS, 0, 5, REQUEST_BLOCK));
    assert.equal(reader.openCallStreamId, undefined, 'a later block is not even opened');
    assert.equal(reasons.length, 1, 'and not told again');
  }

  it('gives up on a block of more than 256 frames, once, and reads nothing after', () => {
    const { reader, reasons } = readerWithReasons();
    feed(reader, buildFrame(FrameType.HEADERS, 0, 1, REQUEST_BLOCK));
    for (let frame = 2; frame <= 256; frame++) assert.equal(feed(reader, buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0))), undefined);
    assert.deepEqual(reasons, [], 'not before the 257th frame');
    feed(reader, buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0)));
    assertStoppedOnce(reader, reasons, /256 frames/);
  });

  /** A block of one field with a `valueBytes`-octet value, as HEADERS and CONTINUATIONs of up to 16 KiB each. */
  function largeBlockFrames(valueBytes: number): { frames: Buffer[]; fields: string[] } {
    const fields = ['x-large', 'v'.repeat(valueBytes)];
    const block = encodeHeaderList(fields);
    const sizes = Array.from({ length: Math.ceil(block.length / 16_384) - 1 }, () => 16_384);
    return { frames: splitBlock(1, block, sizes), fields };
  }
  const frameBytes = (frames: readonly Buffer[]): number => frames.reduce((total, frame) => total + frame.length, 0);

  it('reads a block of half a MiB', () => {
    const { reader, reasons } = readerWithReasons();
    const { frames, fields } = largeBlockFrames(MIB / 2);
    assert.deepEqual(feedAll(reader, frames)?.fields, fields);
    assert.deepEqual(reasons, []);
  });

  it('gives up on a block over 1 MiB, once, and reads nothing after', () => {
    const { reader, reasons } = readerWithReasons();
    const { frames } = largeBlockFrames(MIB);
    assert.ok(frames.length < 256 && frameBytes(frames) > MIB && frameBytes(frames) < MIB + 16_384, 'over the byte bound only');
    for (const frame of frames) assert.equal(feed(reader, frame), undefined);
    assertStoppedOnce(reader, reasons, /1048576 bytes/);
  });

  it('gives up on a block over 1 MiB in a single HEADERS frame', () => {
    const { reader, reasons } = readerWithReasons();
    const block = encodeHeaderList(['x-large', 'v'.repeat(MIB + 1)]);
    assert.equal(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, block)), undefined);
    assert.equal(reasons.length, 1);
    assert.match(reasons[0], /1048576 bytes/);
  });

  it("gives up on a block that does not decode with the decoder's reason, and reads no later block", () => {
    const { reader, reasons } = readerWithReasons();
    assert.ok(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, REQUEST_BLOCK)));
    // Index 64 is past the two entries the first block left in the table.
    const broken = Buffer.concat([indexedField(3), indexedField(64)]);
    const expected = new HpackDecoder();
    expected.decode(REQUEST_BLOCK);
    let reason = '';
    try {
      expected.decode(broken);
    } catch (error) {
      reason = (error as Error).message;
    }
    assert.match(reason, /index 64 is out of range/);
    assert.equal(feedAll(reader, splitBlock(3, broken, [1])), undefined);
    assertStoppedOnce(reader, reasons, reason);
  });

  it("gives up on a first block that does not decode with the decoder's reason", () => {
    const { reader, reasons } = readerWithReasons();
    const broken = Buffer.from([0x80]);
    assert.equal(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, broken)), undefined);
    assertStoppedOnce(reader, reasons, decoderReason(broken));
  });

  it('reads nothing more once stopped, without calling the block unreadable', () => {
    const { reader, reasons } = readerWithReasons();
    feed(reader, buildFrame(FrameType.HEADERS, 0, 1, REQUEST_BLOCK.subarray(0, 4)));
    reader.stop();
    assert.equal(reader.openCallStreamId, undefined);
    assert.equal(feed(reader, buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, REQUEST_BLOCK.subarray(4))), undefined);
    assert.equal(feed(reader, buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 3, REQUEST_BLOCK)), undefined);
    assert.deepEqual(reasons, []);
  });
});
