import { strict as assert } from 'node:assert';
import { criMethod, type CriTestClient } from './cri-client.js';

/** Every response the client received decodes with proto/ and re-encodes to identical bytes: no field is unknown to us. */
export function assertResponsesRoundTrip(client: CriTestClient, atLeast: number): void {
  assert.ok(client.received.length >= atLeast, `expected at least ${atLeast} responses, got ${client.received.length}`);
  for (const { path, bytes } of client.received) {
    const type = criMethod(path.split('/')[2]).responseType;
    const reencoded = Buffer.from(type.encode(type.decode(bytes)).finish());
    assert.ok(reencoded.equals(bytes), `${path}: the runtime sent a field proto/ does not describe`);
  }
}
