import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, statusOf, type Message } from '../support/cri-client.js';
import { startStubCriServer, type StubCriServer } from '../support/stub-cri-server.js';
import { testRuntime } from '../support/runtime-env.js';

// containerd 1.6.20 does not implement GetContainerEvents (nor the Stream* RPCs), so the
// stub runtime stands in wherever a stream must carry messages.

describe('server streaming through criscope', () => {
  let stub: StubCriServer;
  let stubSocket: string;
  let criscope: CriscopeProcess;
  let client: CriTestClient;

  before(async () => {
    stubSocket = join(mkdtempSync(join(tmpdir(), 'criscope-stub-')), 'stub.sock');
    stub = await startStubCriServer(stubSocket);
    criscope = await startCriscope({ runtimeSocket: stubSocket });
    client = new CriTestClient(criscope.socketPath);
  });

  after(async () => {
    client.close();
    await criscope.stop();
    await stub.close();
  });

  it('delivers every event in order and ends with the runtime’s status', async () => {
    const stream = client.stream('GetContainerEvents');
    const events: Message[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (event: Message) => events.push(event));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await stub.waitForEventStreams(1);
    stub.emitContainerEvents(2000);
    await waitUntil(() => events.length === 2000);
    stub.endEventStreams();
    await ended;
    // The stub stamps each event's created_at with its sequence number.
    const stamps = events.map((event) => BigInt(event['created_at'] as string));
    assert.equal(new Set(stamps).size, 2000, 'no event lost or repeated');
    assert.ok(stamps.every((stamp, index) => index === 0 || stamp === (stamps[index - 1] as bigint) + 1n), 'in the order sent');
    await waitUntil(() => criscope.logLines().some((line) => line['method'] === 'GetContainerEvents' && line['responseMessages'] === 2000));
  });

  it('cancels the runtime’s stream when the client cancels', async () => {
    const stream = client.stream('GetContainerEvents');
    let received = 0;
    const cancelled = new Promise<number | undefined>((resolve) => stream.on('error', (error) => resolve(statusOf(error))));
    stream.on('data', () => received++);
    await stub.waitForEventStreams(1);
    stub.emitContainerEvents(10);
    await waitUntil(() => received === 10);
    stream.cancel();
    assert.equal(await cancelled, 1);
    await waitUntil(() => stub.openEventStreamCount() === 0);
  });

  it('ends the client’s stream with UNAVAILABLE when the runtime goes away', async () => {
    const stream = client.stream('GetContainerEvents');
    const failed = new Promise<number | undefined>((resolve) => stream.on('error', (error) => resolve(statusOf(error))));
    stream.on('data', () => undefined);
    await stub.waitForEventStreams(1);
    await stub.crash();
    assert.equal(await failed, 14);
    stub = await startStubCriServer(stubSocket);
    assert.equal((await client.call('Version'))['runtime_name'], 'criscope-stub', 'calls heal once the runtime is back');
  });
});

describe('a separate image endpoint', () => {
  it('routes ImageService calls to the image endpoint and the rest to the runtime', async () => {
    const stubSocket = join(mkdtempSync(join(tmpdir(), 'criscope-stub-')), 'stub.sock');
    const stub = await startStubCriServer(stubSocket);
    const runtime = testRuntime();
    const criscope = await startCriscope({ runtimeSocket: stubSocket, imageSocket: runtime.containerdSocket });
    const client = new CriTestClient(criscope.socketPath);
    try {
      assert.equal((await client.call('Version'))['runtime_name'], 'criscope-stub');
      const images = (await client.call('ListImages')) as { images: Message[] };
      const tags = images.images.flatMap((image) => image['repo_tags'] as string[]);
      assert.ok(tags.includes(runtime.busyboxImage), 'ListImages answered by containerd, the image endpoint');
    } finally {
      client.close();
      await criscope.stop();
      await stub.close();
    }
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
