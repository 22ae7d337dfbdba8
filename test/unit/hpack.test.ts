import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HpackDecoder, Representation } from '../../src/relay/hpack/decoder.js';
import { encodeHeaderBlock, literalLength, withoutIndexingHead, writeLiteral } from '../../src/relay/hpack/encoder.js';
import { HpackError } from '../../src/relay/hpack/errors.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength, huffmanScratchCapacity } from '../../src/relay/hpack/huffman.js';
import { prng } from '../support/seeded-random.js';
import { hpackInteger } from '../support/hpack-bytes.js';

type Field = readonly [string, string];

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}
function flat(fields: readonly Field[]): string[] {
  return fields.flatMap(([name, value]) => [name, value]);
}
function latin1(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}


/** An HPACK integer (§5.1) with a `prefixBits` prefix, under the representation's `firstBits`. */
function integer(value: number, prefixBits: number, firstBits: number): Buffer {
  return hpackInteger(value, 2 ** prefixBits - 1, firstBits);
}

function throwsHpack(action: () => unknown, problem: RegExp, what?: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof HpackError, `expected HpackError, got ${String(error)}`);
    assert.match(error.message, problem);
    assert.match(error.message, / at byte \d+$/);
    return true;
  }, what);
}

interface Step {
  wire: string;
  fields: Field[];
  /** The dynamic table afterwards, newest first. */
  table: Field[];
  size: number;
}

function runSequence(decoder: HpackDecoder, steps: readonly Step[]): void {
  steps.forEach((step, i) => {
    assert.deepEqual(decoder.decode(hex(step.wire)), flat(step.fields), `block ${i + 1}`);
    assert.deepEqual(decoder.tableEntries(), step.table, `table after block ${i + 1}`);
    assert.equal(decoder.tableSize, step.size, `table size after block ${i + 1}`);
  });
}

describe('RFC 7541 Appendix C', () => {
  it('C.1 integers (through size updates, which have a 5-bit prefix)', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex('2a')); // C.1.1: 10
    assert.equal(decoder.maxTableSize, 10);
    decoder.decode(hex('3f9a0a')); // C.1.2: 1337
    assert.equal(decoder.maxTableSize, 1337);
  });

  it('C.2.1 literal with indexing', () => {
    runSequence(new HpackDecoder(), [
      {
        wire: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
        fields: [['custom-key', 'custom-header']],
        table: [['custom-key', 'custom-header']],
        size: 55,
      },
    ]);
  });

  it('C.2.2 literal without indexing', () => {
    runSequence(new HpackDecoder(), [{ wire: '040c 2f73 616d 706c 652f 7061 7468', fields: [[':path', '/sample/path']], table: [], size: 0 }]);
  });

  it('C.2.3 literal never indexed', () => {
    runSequence(new HpackDecoder(), [{ wire: '1008 7061 7373 776f 7264 0673 6563 7265 74', fields: [['password', 'secret']], table: [], size: 0 }]);
  });

  it('C.2.4 indexed field', () => {
    runSequence(new HpackDecoder(), [{ wire: '82', fields: [[':method', 'GET']], table: [], size: 0 }]);
  });

  const requestFields: Field[][] = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
  ];
  const requestTables: Field[][] = [
    [[':authority', 'www.example.com']],
    [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  ];
  const requestSizes = [57, 110, 164];

  function requests(wires: string[]): Step[] {
    return wires.map((wire, i) => ({ wire, fields: requestFields[i], table: requestTables[i], size: requestSizes[i] }));
  }

  it('C.3 requests without Huffman coding', () => {
    runSequence(
      new HpackDecoder(),
      requests([
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ]),
    );
  });

  it('C.4 requests with Huffman coding', () => {
    runSequence(
      new HpackDecoder(),
      requests([
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ]),
    );
  });

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const location = 'https://www.example.com';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responseSteps = (wires: string[]): Step[] => [
    {
      wire: wires[0],
      fields: [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', location]],
      table: [['location', location], ['date', date1], ['cache-control', 'private'], [':status', '302']],
      size: 222,
    },
    {
      // Inserting :status 307 evicts :status 302.
      wire: wires[1],
      fields: [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', location]],
      table: [[':status', '307'], ['location', location], ['date', date1], ['cache-control', 'private']],
      size: 222,
    },
    {
      // Three insertions, several evictions.
      wire: wires[2],
      fields: [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', location], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
      table: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
      size: 215,
    },
  ];

  it('C.5 responses without Huffman coding, 256-octet table with eviction', () => {
    runSequence(
      new HpackDecoder(256),
      responseSteps([
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ]),
    );
  });

  it('C.6 responses with Huffman coding, 256-octet table with eviction', () => {
    runSequence(
      new HpackDecoder(256),
      responseSteps([
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ]),
    );
  });
});

describe('Huffman code', () => {
  it('encodes the RFC examples', () => {
    const examples: [string, string][] = [
      ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
      ['no-cache', 'a8eb 1064 9cbf'],
      ['custom-key', '25a8 49e9 5ba9 7d7f'],
      ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
      ['302', '6402'],
      ['307', '640e ff'],
      ['private', 'aec3 771a 4b'],
      ['gzip', '9bd9 ab'],
      ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    ];
    for (const [text, wire] of examples) {
      assert.deepEqual(huffmanEncode(Buffer.from(text)), hex(wire), text);
      assert.equal(huffmanDecode(hex(wire)), text);
    }
  });

  it('gives sample symbols the codes of RFC 7541 Appendix B', () => {
    // [symbol, code, length]: short, long and odd-length codes from across the table.
    const codes: [number, number, number][] = [
      [0x30, 0x0, 5],
      [0x61, 0x3, 5],
      [0x20, 0x14, 6],
      [0x3a, 0x5c, 7],
      [0x26, 0xf8, 8],
      [0x21, 0x3f8, 10],
      [0x00, 0x1ff8, 13],
      [0x5c, 0x7fff0, 19],
      [0x80, 0xfffe6, 20],
      [0x01, 0x7fffd8, 23],
      [0x09, 0xffffea, 24],
      [0xff, 0x3ffffee, 26],
      [0x0a, 0x3ffffffc, 30],
    ];
    for (const [symbol, code, length] of codes) {
      const padding = (8 - (length % 8)) % 8;
      const octets = (length + padding) / 8;
      const expected = Buffer.alloc(octets);
      expected.writeUIntBE(code * 2 ** padding + (2 ** padding - 1), 0, octets);
      assert.deepEqual(huffmanEncode(Buffer.from([symbol])), expected, `symbol ${symbol}`);
    }
  });

  it('round-trips every octet, alone and all together', () => {
    for (let byte = 0; byte < 256; byte++) {
      const encoded = huffmanEncode(Buffer.from([byte]));
      assert.equal(huffmanDecode(encoded), String.fromCharCode(byte), `octet ${byte}`);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const encoded = huffmanEncode(all);
    assert.equal(encoded.length, huffmanEncodedLength(all));
    assert.deepEqual(latin1(huffmanDecode(encoded)), all);
  });

  it('round-trips random strings', () => {
    const random = prng(1);
    const common = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789-_./:= ');
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * (i % 10 === 0 ? 3000 : 120));
      const bytes = Buffer.alloc(length);
      const allOctets = random() < 0.5;
      for (let j = 0; j < length; j++) {
        bytes[j] = allOctets ? Math.floor(random() * 256) : (common[Math.floor(random() * common.length)]);
      }
      const encoded = huffmanEncode(bytes);
      assert.equal(encoded.length, huffmanEncodedLength(bytes));
      assert.deepEqual(latin1(huffmanDecode(encoded)), bytes, `string ${i}`);
      // Decoding a window of a larger buffer reads only the window.
      const framed = Buffer.concat([Buffer.from([0x00, 0xff]), encoded, Buffer.from([0x00])]);
      assert.deepEqual(latin1(huffmanDecode(framed, 2, 2 + encoded.length)), bytes);
    }
  });

  it('rejects padding that is not all ones', () => {
    // 'a' is 00011; its valid padding makes 0x1f.
    throwsHpack(() => huffmanDecode(Buffer.from([0x18])), /padding/);
    throwsHpack(() => huffmanDecode(Buffer.from([0x1e])), /padding/);
    assert.equal(huffmanDecode(Buffer.from([0x1f])), 'a');
  });

  it('rejects padding longer than 7 bits', () => {
    throwsHpack(() => huffmanDecode(Buffer.from([0x1f, 0xff])), /padding/);
    throwsHpack(() => huffmanDecode(Buffer.from([0xff])), /padding/);
    throwsHpack(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff])), /padding/);
  });

  it('rejects EOS inside a string', () => {
    throwsHpack(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), /EOS/);
    throwsHpack(() => huffmanDecode(Buffer.concat([huffmanEncode(Buffer.from('abc')).subarray(0, 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])])), /EOS/);
  });

  it('decodes an empty string', () => {
    assert.equal(huffmanDecode(Buffer.alloc(0)), '');
  });
});

describe('HpackDecoder', () => {
  /** A literal with incremental indexing and a new name, raw strings. */
  function insertion(name: string, value: string): Buffer {
    return Buffer.concat([Buffer.from([0x40, name.length]), latin1(name), Buffer.from([value.length]), latin1(value)]);
  }

  it('keeps every octet of names and values (latin1)', () => {
    const value = String.fromCharCode(...Array.from({ length: 120 }, (_, i) => 128 + i));
    const block = Buffer.concat([Buffer.from([0x00, 0x03]), latin1('x-\u00e9'), integer(huffmanEncodedLength(latin1(value)), 7, 0x80), huffmanEncode(latin1(value))]);
    assert.deepEqual(new HpackDecoder().decode(block), ['x-\u00e9', value]);
  });

  it('decodes never-indexed and without-indexing literals with indexed and new names', () => {
    const decoder = new HpackDecoder();
    const block = Buffer.concat([
      hex('1f08 06') /* never indexed, name 23 (authorization, 4-bit prefix overflow) */, latin1('secret'),
      hex('0f10 01') /* without indexing, name 31 (content-type) */, latin1('x'),
      hex('1003') /* never indexed, new name */, latin1('k-1'), hex('01'), latin1('v'),
      hex('0003'), latin1('k-2'), hex('00'),
    ]);
    assert.deepEqual(decoder.decode(block), ['authorization', 'secret', 'content-type', 'x', 'k-1', 'v', 'k-2', '']);
    assert.equal(decoder.tableLength, 0);
  });

  it('uses dynamic entries as names and as whole fields', () => {
    const decoder = new HpackDecoder();
    decoder.decode(Buffer.concat([insertion('x-a', '1'), insertion('x-b', '2')]));
    // 62 = newest (x-b), 63 = x-a; 0x7f00 = incremental indexing with name 63; once
    // that is inserted, 63 (0x0f30: without indexing, 15 + 48) is x-b.
    assert.deepEqual(decoder.decode(Buffer.concat([hex('be bf 7f00 01'), latin1('3'), hex('0f30 01'), latin1('4')])), ['x-b', '2', 'x-a', '1', 'x-a', '3', 'x-b', '4']);
    assert.deepEqual(decoder.tableEntries(), [['x-a', '3'], ['x-b', '2'], ['x-a', '1']]);
  });

  it('evicts by size, oldest first', () => {
    const decoder = new HpackDecoder(100);
    decoder.decode(insertion('aaaa', 'bbbb')); // 40 octets
    decoder.decode(insertion('cccc', 'dddd'));
    assert.equal(decoder.tableSize, 80);
    decoder.decode(insertion('eeee', 'ffff'));
    assert.deepEqual(decoder.tableEntries(), [['eeee', 'ffff'], ['cccc', 'dddd']]);
    assert.equal(decoder.tableSize, 80);
    // An entry bigger than the table empties it and is not added (§4.4), but is still a field.
    assert.deepEqual(decoder.decode(insertion('g', 'h'.repeat(70))), ['g', 'h'.repeat(70)]);
    assert.equal(decoder.tableLength, 0);
    assert.equal(decoder.tableSize, 0);
    // An entry of exactly the table size fits.
    decoder.decode(insertion('i'.repeat(34), 'j'.repeat(34)));
    assert.equal(decoder.tableSize, 100);
  });

  it('applies size updates: evicting, then growing again up to the allowed size', () => {
    const decoder = new HpackDecoder();
    decoder.decode(Buffer.concat([insertion('aaaa', 'bbbb'), insertion('cccc', 'dddd')]));
    decoder.decode(hex('3f19')); // 31 + 25 = 56: only the newest entry stays
    assert.deepEqual(decoder.tableEntries(), [['cccc', 'dddd']]);
    assert.equal(decoder.maxTableSize, 56);
    decoder.decode(Buffer.concat([hex('20 3fe1 1f'), insertion('eeee', 'ffff')])); // to 0, then 4096, then a field
    assert.deepEqual(decoder.tableEntries(), [['eeee', 'ffff']]);
    assert.equal(decoder.maxTableSize, 4096);
  });

  it('follows a naive model of the table through random insertions and size updates', () => {
    const random = prng(2);
    const decoder = new HpackDecoder(512);
    decoder.tableSizeLimit.sent(4000);
    let model: Field[] = [];
    let maxSize = 512;
    let longest = 0;
    const sizeOf = (entries: Field[]): number => entries.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
    for (let round = 0; round < 3000; round++) {
      if (random() < 0.03) {
        maxSize = Math.floor(random() * 4000);
        decoder.decode(integer(maxSize, 5, 0x20));
        while (sizeOf(model) > maxSize) model.pop();
      }
      const name = `n${round}`;
      // Mostly tiny entries, so the ring holds ~100 of them and has to grow and wrap.
      const value = 'v'.repeat(random() < 0.7 ? 0 : Math.floor(random() * 100));
      decoder.decode(insertion(name, value));
      if (name.length + value.length + 32 > maxSize) model = [];
      else {
        model.unshift([name, value]);
        while (sizeOf(model) > maxSize) model.pop();
      }
      assert.deepEqual(decoder.tableEntries(), model, `round ${round}`);
      assert.equal(decoder.tableSize, sizeOf(model));
      longest = Math.max(longest, model.length);
      if (model.length > 0) {
        const pick = Math.floor(random() * model.length);
        assert.deepEqual(decoder.decode(integer(62 + pick, 7, 0x80)), flat([model[pick]]));
      }
    }
    assert.ok(longest > 64, `the table never held more than ${longest} entries`);
  });

  it('rejects malformed blocks with HpackError', () => {
    const cases: [string, string, RegExp][] = [
      ['bad Huffman padding', '04 81 18', /padding/],
      ['Huffman padding over 7 bits', '04 82 1fff', /padding/],
      ['EOS in a Huffman string', '04 84 ffffffff', /EOS/],
      ['truncated integer', 'ff', /truncated integer/],
      ['truncated integer continuation', 'ff 80', /truncated integer/],
      ['integer overflow', 'ff ffffffff 7f', /too large/],
      ['integer with endless continuation', 'ff 8080808080 8000', /too many continuation/],
      ['index 0', '80', /index 0/],
      ['index past the static table on an empty dynamic table', 'be', /index 62 is out of range/],
      ['name index out of range', '7e 01 61', /index 62 is out of range/],
      ['string past the end', '04 05 6162', /runs past the end/],
      ['missing value', '04', /string was expected/],
      ['missing new name', '40', /string was expected/],
      ['size update over the allowed size', '3f e2 1f', /4097 exceeds the allowed 4096/],
      ['size update after a field', '82 20', /size update after a header field/],
    ];
    for (const [what, wire, problem] of cases) {
      throwsHpack(() => new HpackDecoder().decode(hex(wire)), problem, what);
    }
    // The offset points at the representation at fault.
    assert.throws(() => new HpackDecoder().decode(hex('82 86 be')), (error: unknown) => error instanceof HpackError && error.offset === 2);
  });

  it('accepts size updates up to the table size limit, which a lowered SETTINGS changes only once acknowledged', () => {
    const decoder = new HpackDecoder();
    decoder.decode(integer(4096, 5, 0x20));
    throwsHpack(() => new HpackDecoder().decode(integer(4097, 5, 0x20)), /4097 exceeds the allowed 4096/, 'the default limit');
    decoder.tableSizeLimit.sent(8192);
    decoder.decode(integer(8192, 5, 0x20)); // a raise may be used at once
    decoder.tableSizeLimit.acknowledged();
    decoder.tableSizeLimit.sent(1024);
    decoder.decode(integer(8192, 5, 0x20)); // written before the encoder saw the lower limit
    assert.equal(decoder.maxTableSize, 8192);
    decoder.tableSizeLimit.acknowledged();
    decoder.decode(integer(1024, 5, 0x20));
    throwsHpack(() => decoder.decode(integer(1025, 5, 0x20)), /1025 exceeds the allowed 1024/);
  });

  it('accepts a size update only before the first field of a block', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex('20 3fe11f 82')); // two updates (§4.2: smallest, then final), then a field
    assert.equal(decoder.maxTableSize, 4096);
    throwsHpack(() => decoder.decode(hex('82 3fe11f')), /size update after a header field/);
  });

  it('locates each field of the watched name in its block, with its representation, allocating nothing for a block without any', () => {
    const decoder = new HpackDecoder(4096, 'x-w');
    decoder.decode(insertion('x-a', '1'));
    const none = decoder.watchedFields;
    assert.equal(none.length, 0);
    const block = Buffer.concat([
      hex('82') /* :method GET, indexed */,
      hex('40 03'), latin1('x-w'), hex('01'), latin1('1') /* incremental indexing, new name: enters as 62 */,
      hex('0f10 01'), latin1('x') /* content-type, without indexing */,
      hex('10 03'), latin1('x-w'), hex('01'), latin1('2') /* never indexed, new name */,
      hex('0f2f 01'), latin1('3') /* without indexing, name from dynamic entry 62 (x-w) */,
      hex('be') /* 62 (x-w: 1), indexed */,
    ]);
    const fields = decoder.decode(block);
    assert.deepEqual(fields, [':method', 'GET', 'x-w', '1', 'content-type', 'x', 'x-w', '2', 'x-w', '3', 'x-w', '1']);
    const places = decoder.watchedFields.map((field) => ({ ...field, octets: block.subarray(field.start, field.end).toString('hex'), head: block.subarray(field.start, field.valueStart).toString('hex') }));
    assert.deepEqual(places.map(({ field, representation, octets, head }) => ({ field, representation, octets, head })), [
      { field: 2, representation: Representation.IncrementalIndexing, octets: '4003782d770131', head: '4003782d77' },
      { field: 6, representation: Representation.NeverIndexed, octets: '1003782d770132', head: '1003782d77' },
      { field: 8, representation: Representation.WithoutIndexing, octets: '0f2f0133', head: '0f2f' },
      { field: 10, representation: Representation.Indexed, octets: 'be', head: 'be' },
    ]);
    assert.equal(places[3].index, 62);
    assert.equal(places[0].insertion, 1, 'the second entry the table took');
    assert.equal(places[3].receiverValue, undefined);
    decoder.decode(hex('82'));
    assert.equal(decoder.watchedFields, none, 'the next block without the name shares the empty record');
  });

  it("remembers the receiver's value of a shadowed entry until the entry is evicted", () => {
    const decoder = new HpackDecoder(4096, 'x-w');
    decoder.decode(Buffer.concat([hex('40 03'), latin1('x-w'), hex('01'), latin1('a'), insertion('x-b', '2')]));
    const [inserted] = decoder.watchedFields;
    decoder.shadow(inserted.insertion, 'z');
    assert.equal(decoder.shadowedEntries, 1);
    assert.throws(() => decoder.shadow(inserted.insertion, 'zz'), RangeError, 'only a value of the same length keeps the tables in step');
    // The client refers to 63 (x-w: a, behind x-b at 62): the receiver holds z there.
    assert.deepEqual(decoder.decode(hex('bf')), ['x-w', 'a']);
    assert.equal(decoder.watchedFields[0].receiverValue, 'z');
    // Fill the table until x-w: a is evicted: the shadow goes with it.
    for (let round = 0; round < 100; round++) decoder.decode(insertion(`n${round}`, 'v'.repeat(20)));
    assert.equal(decoder.shadowedEntries, 0);
    decoder.shadow(inserted.insertion, 'y');
    assert.equal(decoder.shadowedEntries, 0, 'shadowing an evicted entry does nothing');
  });

  it('shrinks the ring of dynamic table entries when the table shrinks', () => {
    const decoder = new HpackDecoder();
    decoder.tableSizeLimit.sent(65536);
    decoder.decode(integer(65536, 5, 0x20));
    for (let round = 0; round < 2000; round++) decoder.decode(insertion(`n${round}`, ''));
    assert.ok(decoder.tableLength > 1024, `only ${decoder.tableLength} entries`);
    assert.equal(decoder.tableCapacity, 2048);
    decoder.decode(integer(4096, 5, 0x20));
    assert.equal(decoder.tableCapacity, 128, 'room for the 4096 / 32 entries that can fit, no more');
    assert.deepEqual(decoder.tableEntries().slice(0, 2), [['n1999', ''], ['n1998', '']]);
    decoder.decode(hex('20'));
    assert.equal(decoder.tableCapacity, 16);
    decoder.decode(integer(4096, 5, 0x20));
    decoder.decode(insertion('x', 'y'));
    assert.deepEqual(decoder.tableEntries(), [['x', 'y']]);
  });

  it('does not keep a large Huffman string\'s size in its scratch area', () => {
    const before = huffmanScratchCapacity();
    const value = 'a'.repeat(1024 * 1024); // 5 bits an octet: 640 KiB coded
    const coded = huffmanEncode(latin1(value));
    const block = Buffer.concat([hex('00 05'), latin1('x-big'), integer(coded.length, 7, 0x80), coded]);
    assert.deepEqual(new HpackDecoder().decode(block), ['x-big', value]);
    assert.equal(huffmanScratchCapacity(), before);
    assert.ok(before <= 4096, `a small default, not ${before} octets`);
    assert.equal(huffmanDecode(huffmanEncode(latin1('short'))), 'short', 'and small strings still decode through it');
  });

  it('refuses every block after an error, since its table may be half-updated', () => {
    const decoder = new HpackDecoder();
    throwsHpack(() => decoder.decode(Buffer.concat([insertion('x', 'y'), hex('be bf')])), /out of range/);
    throwsHpack(() => decoder.decode(hex('82')), /unusable after an earlier error/);
  });
});

describe('encodeHeaderBlock', () => {
  it('writes literals without indexing and with new names', () => {
    assert.deepEqual(encodeHeaderBlock([['a', 'b'], [':status', '200']]), hex('00 01 61 01 62  00 07 3a737461747573 03 323030'));
    assert.deepEqual(encodeHeaderBlock([]), Buffer.alloc(0));
  });

  it('round-trips through the decoder without touching its table', () => {
    const fields: Field[] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '14'],
      ['grpc-message', 'upstream unavailable: caf\u00e9 \u00ff'],
      ['x-empty', ''],
      ['x-'.padEnd(200, 'n'), 'v'.repeat(70000)],
      ['x-126', 'a'.repeat(126)],
      ['x-127', 'a'.repeat(127)],
      ['x-128', 'a'.repeat(128)],
    ];
    const decoder = new HpackDecoder();
    decoder.decode(hex('40 01 61 01 62')); // a peer's entry that must stay put
    assert.deepEqual(decoder.decode(encodeHeaderBlock(fields)), flat(fields));
    assert.deepEqual(decoder.tableEntries(), [['a', 'b']]);
  });

  it('writes a literal again with another value, its type bits and name as they were', () => {
    const head = Buffer.concat([hex('10 03'), latin1('x-w')]); // never indexed, new name
    const literal = Buffer.alloc(literalLength(head, 'abc'));
    assert.equal(writeLiteral(literal, 0, head, 'abc'), literal.length);
    assert.deepEqual(literal, Buffer.concat([head, hex('03'), latin1('abc')]));
    const decoder = new HpackDecoder(4096, 'x-w');
    assert.deepEqual(decoder.decode(literal), ['x-w', 'abc']);
    assert.equal(decoder.watchedFields[0].representation, Representation.NeverIndexed);
    assert.throws(() => writeLiteral(Buffer.alloc(16), 0, head, 'caf\u20ac'), RangeError, 'a char outside latin1 is refused, not truncated');
  });

  it('writes a literal without indexing whose name comes from the table', () => {
    const decoder = new HpackDecoder();
    decoder.decode(Buffer.concat([hex('40 03'), latin1('x-w'), hex('03'), latin1('old')]));
    const head = withoutIndexingHead(62);
    assert.deepEqual(head, hex('0f2f'));
    const literal = Buffer.alloc(literalLength(head, 'new'));
    writeLiteral(literal, 0, head, 'new');
    assert.deepEqual(literal, hex('0f2f 03 6e6577'));
    assert.deepEqual(decoder.decode(literal), ['x-w', 'new']);
    assert.deepEqual(decoder.tableEntries(), [['x-w', 'old']], 'the table is unchanged');
  });

  it('refuses chars outside latin1 instead of truncating them', () => {
    assert.throws(() => encodeHeaderBlock([['x', 'caf\u00e9 \u20ac']]), RangeError);
  });
});

// ---------------------------------------------------------------------------
// Real-world check: node:http2 (nghttp2's encoder, Huffman when shorter, its own
// indexing choices) against frames parsed by hand and decoded by HpackDecoder.

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** Cuts a byte stream into frames, after the client preface if one is expected. */
class FrameReader {
  private pending = Buffer.alloc(0);

  constructor(private expectPreface: boolean) {}

  push(chunk: Buffer): Frame[] {
    this.pending = Buffer.concat([this.pending, chunk]);
    if (this.expectPreface) {
      if (this.pending.length < PREFACE.length) return [];
      assert.deepEqual(this.pending.subarray(0, PREFACE.length), PREFACE);
      this.pending = this.pending.subarray(PREFACE.length);
      this.expectPreface = false;
    }
    const frames: Frame[] = [];
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      frames.push({
        type: this.pending[3],
        flags: this.pending[4],
        streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.pending.subarray(9, 9 + length),
      });
      this.pending = this.pending.subarray(9 + length);
    }
    return frames;
  }
}

/** Joins HEADERS + CONTINUATION fragments into header blocks, stripping padding and priority. */
class BlockCollector {
  padded = 0;
  prioritized = 0;
  continuations = 0;
  private fragments: Buffer[] = [];
  private streamId = 0;

  push(f: Frame): { streamId: number; block: Buffer } | undefined {
    if (f.type === HEADERS) {
      assert.equal(this.fragments.length, 0, 'HEADERS inside a header block');
      let start = 0;
      let end = f.payload.length;
      if (f.flags & PADDED) {
        this.padded++;
        start = 1;
        end -= f.payload[0];
      }
      if (f.flags & PRIORITY) {
        this.prioritized++;
        start += 5;
      }
      this.streamId = f.streamId;
      this.fragments.push(f.payload.subarray(start, end));
    } else if (f.type === CONTINUATION) {
      assert.equal(f.streamId, this.streamId, 'CONTINUATION on another stream');
      this.continuations++;
      this.fragments.push(f.payload);
    } else {
      assert.equal(this.fragments.length, 0, `frame type ${f.type} inside a header block`);
      return undefined;
    }
    if ((f.flags & END_HEADERS) === 0) return undefined;
    const block = Buffer.concat(this.fragments);
    this.fragments = [];
    return { streamId: this.streamId, block };
  }
}

function valueOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Mostly 5-bit symbols around each of `specials`, so nghttp2 picks Huffman for it (shorter than raw). */
function huffmanFriendly(specials: readonly number[], random: () => number): string {
  const filler = 'aceiost012';
  let text = '';
  for (const special of specials) {
    for (let i = 0; i < 10; i++) text += filler[Math.floor(random() * filler.length)];
    text += String.fromCharCode(special);
  }
  assert.ok(huffmanEncodedLength(latin1(text)) < text.length, 'value would not be Huffman-coded');
  return text;
}

interface TestRequest {
  fields: Field[];
  sensitive?: string[];
  weight?: number;
}

function testRequests(): TestRequest[] {
  const random = prng(3);
  const grpc = (path: string): Field[] => [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':authority', 'criscope.test'],
    [':path', path],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['user-agent', 'grpc-go/1.60.1'],
    ['grpc-accept-encoding', 'identity,deflate,gzip'],
    ['grpc-timeout', `${1 + Math.floor(random() * 5000)}m`],
  ];
  const paths = ['/runtime.v1.RuntimeService/Version', '/runtime.v1.RuntimeService/ListContainers', '/runtime.v1.ImageService/ListImages', '/runtime.v1.RuntimeService/ContainerStatus'];
  const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const randomText = (length: number): string => Array.from({ length }, () => alnum[Math.floor(random() * alnum.length)]).join('');
  const printable = Array.from({ length: 95 }, (_, i) => 0x20 + i).concat([0x09]);
  const requests: TestRequest[] = [];
  for (let i = 0; i < 16; i++) requests.push({ fields: grpc(paths[i % paths.length]) });
  // Every octet 0x80..0xff, 16 per request.
  for (let i = 0; i < 8; i++) {
    const high = Array.from({ length: 16 }, (_, j) => 0x80 + i * 16 + j);
    requests.push({ fields: [...grpc(paths[0]), ['x-high', huffmanFriendly(high, random)]] });
  }
  requests.push({ fields: [...grpc(paths[1]), ['x-printable', huffmanFriendly(printable, random)], ['x-raw', printable.map((c) => String.fromCharCode(c)).join('')]] });
  requests.push({ fields: [...grpc(paths[2]), ['x-long', randomText(3000)], ['x-empty', '']] });
  // Big enough to need CONTINUATION frames even Huffman-coded.
  requests.push({ fields: [...grpc(paths[2]), ['x-huge', randomText(40000)]] });
  requests.push({ fields: [...grpc(paths[3]), ['x-multi', 'one'], ['x-multi', 'two'], ['x-multi', 'three']], weight: 200 });
  requests.push({
    fields: [...grpc(paths[0]), ['authorization', 'Bearer sensitive-token-1'], ['x-api-key', 'sensitive-key-1'], ['x-plain-key', 'plain-key-1']],
    sensitive: ['authorization', 'x-api-key'],
  });
  for (let i = 0; i < 6; i++) requests.push({ fields: grpc(paths[i % paths.length]), weight: 1 + i });
  return requests.map((request, seq) => ({ ...request, fields: [...request.fields, ['x-seq', String(seq)]] }));
}

type NodeRequestHeaders = http2.OutgoingHttpHeaders & { [key: symbol]: string[] };

function sendRequest(client: http2.ClientHttp2Session, request: TestRequest): Promise<http2.IncomingHttpHeaders> {
  const headers: NodeRequestHeaders = {};
  for (const [name, value] of request.fields) {
    const previous = headers[name];
    headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
  }
  if (request.sensitive !== undefined) headers[http2.sensitiveHeaders] = request.sensitive;
  const options: http2.ClientSessionRequestOptions = { endStream: true };
  if (request.weight !== undefined) options.weight = request.weight;
  return new Promise((resolve, reject) => {
    const stream = client.request(headers, options);
    stream.on('response', (responseHeaders) => resolve(responseHeaders));
    stream.on('error', reject);
    stream.resume();
  });
}

const TRAILERS_ONLY: Field[] = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-status', '14'],
  ['grpc-message', 'relay says caf\u00e9'],
];

async function clientExchange(advertisedTableSize: number | undefined): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'criscope-hpack-'));
  const socketPath = join(dir, 'h2.sock');
  const decoder = new HpackDecoder();
  const collector = new BlockCollector();
  const received: string[][] = [];
  let sensitiveIndexed = false;
  let plainIndexed = false;
  let failure: unknown;
  const server = net.createServer((socket) => {
    const reader = new FrameReader(true);
    const settings = Buffer.alloc(advertisedTableSize === undefined ? 0 : 6);
    if (advertisedTableSize !== undefined) {
      settings.writeUInt16BE(0x1, 0); // SETTINGS_HEADER_TABLE_SIZE
      settings.writeUInt32BE(advertisedTableSize, 2);
    }
    socket.write(frame(SETTINGS, 0, 0, settings));
    decoder.tableSizeLimit.sent(advertisedTableSize);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (f.type === SETTINGS && (f.flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
          if (f.type === SETTINGS && (f.flags & ACK) !== 0) decoder.tableSizeLimit.acknowledged();
          const header = collector.push(f);
          if (header === undefined) continue;
          const fields = decoder.decode(header.block);
          received.push(fields);
          const values = decoder.tableEntries().map(([, value]) => value);
          sensitiveIndexed ||= values.includes('Bearer sensitive-token-1') || values.includes('sensitive-key-1');
          plainIndexed ||= values.includes('plain-key-1');
          const answer: Field[] = [...TRAILERS_ONLY, ['x-seq', valueOf(fields, 'x-seq') ?? '?']];
          socket.write(frame(HEADERS, END_HEADERS | END_STREAM, header.streamId, encodeHeaderBlock(answer)));
        }
      } catch (error) {
        failure ??= error;
        socket.destroy();
      }
    });
  });
  server.listen(socketPath);
  await once(server, 'listening');
  const client = http2.connect('http://criscope.test', {
    createConnection: () => net.connect(socketPath),
    // Pads HEADERS frames too, so the padding stripping is exercised.
    paddingStrategy: http2.constants.PADDING_STRATEGY_MAX,
  });
  client.on('error', (error: Error) => {
    failure ??= error;
  });
  const requests = testRequests();
  try {
    // Half one at a time, half all at once: both orders the encoder may see.
    const half = Math.floor(requests.length / 2);
    const responses: http2.IncomingHttpHeaders[] = [];
    for (const request of requests.slice(0, half)) responses.push(await sendRequest(client, request));
    responses.push(...(await Promise.all(requests.slice(half).map((request) => sendRequest(client, request)))));
    // nghttp2 decoded what encodeHeaderBlock wrote.
    responses.forEach((response, seq) => {
      assert.equal(response[':status'], 200);
      assert.equal(response['grpc-status'], '14');
      assert.equal(response['grpc-message'], 'relay says caf\u00e9');
      assert.equal(response['x-seq'], String(seq));
    });
  } finally {
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(failure, undefined);
  assert.equal(received.length, requests.length);
  const bySeq = new Map(received.map((fields) => [valueOf(fields, 'x-seq'), fields]));
  requests.forEach((request, seq) => assert.deepEqual(bySeq.get(String(seq)), flat(request.fields), `request ${seq}`));
  assert.ok(collector.padded > 0, 'no padded HEADERS frame seen');
  // Node 20 sends the weights as HEADERS priority fields (collector.prioritized > 0); not
  // asserted, since later Node versions may drop RFC 7540 priorities altogether.
  assert.ok(collector.continuations > 0, 'no CONTINUATION frame seen');
  assert.equal(sensitiveIndexed, false, 'a sensitive header entered the dynamic table');
  if (advertisedTableSize === undefined) assert.ok(plainIndexed, 'nghttp2 never indexed the plain header (the check above proves nothing)');
  else {
    assert.equal(decoder.maxTableSize, advertisedTableSize);
    assert.equal(decoder.tableSizeLimit.allowed, advertisedTableSize, 'the client acknowledged the smaller size');
  }
  assert.ok(decoder.tableLength > 0);
}

describe('HpackDecoder against node:http2 (nghttp2)', () => {
  it('decodes every request header block a node:http2 client sends', { timeout: 30000 }, async () => {
    await clientExchange(undefined);
  });

  it('follows the size update nghttp2 sends after a smaller SETTINGS_HEADER_TABLE_SIZE', { timeout: 30000 }, async () => {
    await clientExchange(256);
  });

  it('decodes every response header block a node:http2 server sends', { timeout: 30000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-hpack-'));
    const socketPath = join(dir, 'h2.sock');
    const random = prng(4);
    const count = 40;
    const expected: Field[][] = [];
    for (let seq = 0; seq < count; seq++) {
      const high = Array.from({ length: 8 }, (_, j) => 0x80 + ((seq * 8 + j) % 128));
      expected.push([
        [':status', seq % 5 === 0 ? '404' : '200'],
        ['content-type', 'application/grpc'],
        ['x-seq', String(seq)],
        ['x-note', 'caf\u00e9'], // the request's x-note as node decoded it
        ['set-cookie', `a=${seq}`],
        ['set-cookie', 'b=2'],
        ['x-high', huffmanFriendly(high, random)],
        ['grpc-status', '0'],
      ]);
    }
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const seq = Number(headers['x-seq']);
      const response: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of expected[seq] ?? []) {
        const previous = response[name];
        response[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
      }
      response['x-note'] = headers['x-note'];
      stream.respond(response, { endStream: true });
    });
    server.listen(socketPath);
    await once(server, 'listening');
    const socket = net.connect(socketPath);
    const decoder = new HpackDecoder();
    const collector = new BlockCollector();
    const received: string[][] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const reader = new FrameReader(false);
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`connection closed after ${received.length} responses`)));
        socket.on('data', (chunk: Buffer) => {
          try {
            for (const f of reader.push(chunk)) {
              if (f.type === GOAWAY) throw new Error(`GOAWAY, error code ${f.payload.readUInt32BE(4)}`);
              if (f.type === SETTINGS && (f.flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
              const header = collector.push(f);
              if (header === undefined) continue;
              received.push(decoder.decode(header.block));
              if (received.length === count) resolve();
            }
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
        const requests = [PREFACE, frame(SETTINGS, 0, 0)];
        for (let seq = 0; seq < count; seq++) {
          const block = encodeHeaderBlock([[':method', 'GET'], [':scheme', 'http'], [':authority', 'criscope.test'], [':path', `/r/${seq}`], ['x-seq', String(seq)], ['x-note', 'caf\u00e9']]);
          requests.push(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * seq, block));
        }
        socket.write(Buffer.concat(requests));
      });
    } finally {
      socket.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    received.forEach((fields, i) => {
      const seq = Number(valueOf(fields, 'x-seq'));
      // node adds a date header of its own; take it out before comparing.
      const dateAt = fields.indexOf('date');
      assert.ok(dateAt >= 0 && dateAt % 2 === 0, `response ${i} has no date`);
      const withoutDate = [...fields.slice(0, dateAt), ...fields.slice(dateAt + 2)];
      assert.deepEqual(withoutDate, flat(expected[seq] ?? []), `response ${seq}`);
    });
    assert.ok(decoder.tableLength > 0);
  });
});
