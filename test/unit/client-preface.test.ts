import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ClientPrefaceReader } from '../../src/relay/client-preface.js';
import { CLIENT_PREFACE } from '../../src/relay/http2-frames.js';

const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

describe('the client preface', () => {
  it('is complete once its last byte arrives, however it is split, and hands on what followed it', () => {
    const stream = Buffer.concat([CLIENT_PREFACE, SETTINGS]);
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new ClientPrefaceReader();
      const first = reader.push(stream.subarray(0, cut));
      if (cut < CLIENT_PREFACE.length) {
        assert.deepEqual(first, { kind: 'incomplete' }, `cut at ${cut}`);
        const second = reader.push(stream.subarray(cut));
        assert.equal(second.kind, 'complete');
        assert.deepEqual(second.kind === 'complete' && [...second.rest], [...SETTINGS], `cut at ${cut}`);
      } else {
        assert.equal(first.kind, 'complete');
        assert.deepEqual(first.kind === 'complete' && [...first.rest], [...stream.subarray(CLIENT_PREFACE.length, cut)], `cut at ${cut}`);
      }
    }
  });

  it('is refused at the first byte that differs, before the rest arrives', () => {
    const reader = new ClientPrefaceReader();
    assert.deepEqual(reader.push(Buffer.from('PRI * HTTP/2.0\r\n')), { kind: 'incomplete' });
    assert.deepEqual(reader.push(Buffer.from('\r\nX')), { kind: 'not http2' });
    assert.deepEqual(new ClientPrefaceReader().push(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not http2' });
  });
});
