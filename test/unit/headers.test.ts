import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeGrpcMessage, encodeGrpcMessage, headersToForward } from '../../src/relay/headers.js';

describe('headersToForward', () => {
  it('reuses the received object when no header repeats', () => {
    const headers = { ':path': '/x', 'x-a': '1' };
    assert.equal(headersToForward(headers, [':path', '/x', 'x-a', '1']), headers);
  });

  it('rebuilds repeated headers as one field each, in order, instead of a joined value', () => {
    const forwarded = headersToForward({ ':path': '/x', 'x-bin': 'AAEC, AwQF', 'x-a': '1, 2, 3' }, [':path', '/x', 'x-bin', 'AAEC', 'x-a', '1', 'x-bin', 'AwQF', 'x-a', '2', 'x-a', '3']);
    assert.deepEqual({ ...forwarded }, { ':path': '/x', 'x-bin': ['AAEC', 'AwQF'], 'x-a': ['1', '2', '3'] });
  });
});

describe('grpc-message encoding', () => {
  const cases = [
    { text: 'plain text', wire: 'plain text' },
    { text: '100% done', wire: '100%25 done' },
    { text: 'line\nbreak', wire: 'line%0Abreak' },
    { text: 'naïve', wire: 'na%C3%AFve' },
  ];
  for (const { text, wire } of cases) {
    it(`encodes ${JSON.stringify(text)} and decodes it back`, () => {
      assert.equal(encodeGrpcMessage(text), wire);
      assert.equal(decodeGrpcMessage(wire), text);
    });
  }

  it('leaves a malformed percent-encoding as received', () => {
    assert.equal(decodeGrpcMessage('50%'), '50%');
  });
});
