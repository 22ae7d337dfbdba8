import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeGrpcMessage, encodeGrpcMessage } from '../../src/relay/grpc-message.js';

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
