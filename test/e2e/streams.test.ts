import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, statusOf, type Message } from '../support/cri-client.js';
import { startStubCriServer, type StubCriServer } from '../support/stub-cri-server.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

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
    await waitFor(() => events.length === 2000);
    stub.endEventStreams();
    await ended;
    // The stub stamps each event's created_at with its sequence number.
    const stamps = events.map((event) => BigInt(event['created_at'] as string));
    assert.equal(new Set(stamps).size, 2000, 'no event lost or repeated');
    assert.ok(stamps.every((stamp, index) => index === 0 || stamp === (stamps[index - 1]) + 1n), 'in the order sent');
    await waitFor(() => criscope.logLines().some((line) => line['method'] === 'GetContainerEvents' && line['responseMessages'] === 2000));
  });

  it('carries flow control end to end: a client that stops reading stops the runtime', async () => {
    const stream = client.stream('GetContainerEvents');
    let received = 0;
    stream.on('data', () => received++);
    stream.pause();
    await stub.waitForEventStreams(1);
    const { written, stalled } = await stub.emitUntilStalled(200_000, 1500);
    assert.ok(stalled, `the runtime was held back (it wrote ${written} events)`);
    stream.resume();
    await waitFor(() => received === written);
    const more = await stub.emitUntilStalled(100, 1500);
    assert.equal(more.stalled, false, 'and it flows again once the client reads');
    await waitFor(() => received === written + 100);
    stub.endEventStreams();
  });

  it('cancels the runtime’s stream when the client cancels', async () => {
    const stream = client.stream('GetContainerEvents');
    let received = 0;
    const cancelled = new Promise<number | undefined>((resolve) => stream.on('error', (error) => resolve(statusOf(error))));
    stream.on('data', () => received++);
    await stub.waitForEventStreams(1);
    stub.emitContainerEvents(10);
    await waitFor(() => received === 10);
    stream.cancel();
    assert.equal(await cancelled, 1);
    await waitFor(() => stub.openEventStreamCount() === 0);
  });

  it('ends the client’s stream with UNAVAILABLE when the runtime dies, and heals when it is back', async () => {
    // A runtime that dies sends nothing more: the stub runs in a process of its own, killed with SIGKILL.
    const dyingSocket = join(mkdtempSync(join(tmpdir(), 'criscope-dying-')), 'stub.sock');
    const dying = spawn(process.execPath, ['--input-type=module', '-e', STUB_PROCESS, dyingSocket], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => dying.stdout.once('data', resolve));
    const viaCriscope = await startCriscope({ runtimeSocket: dyingSocket });
    const dyingClient = new CriTestClient(viaCriscope.socketPath);
    let revived: StubCriServer | undefined;
    try {
      const stream = dyingClient.stream('GetContainerEvents');
      const failed = new Promise<{ code: number | undefined; details: string }>((resolve) =>
        stream.on('error', (error) => resolve({ code: statusOf(error), details: (error as unknown as { details: string }).details })),
      );
      await new Promise((resolve) => stream.once('data', resolve));
      dying.kill('SIGKILL');
      const failure = await failed;
      assert.equal(failure.code, 14);
      assert.match(failure.details, /criscope: the runtime closed the connection/);
      await assert.rejects(dyingClient.call('Version'), (error: unknown) => statusOf(error) === 14, 'UNAVAILABLE while the runtime is away');
      revived = await startStubCriServer(dyingSocket);
      assert.equal((await dyingClient.call('Version'))['runtime_name'], 'criscope-stub', 'calls heal once the runtime is back');
    } finally {
      dying.kill('SIGKILL');
      dyingClient.close();
      await viaCriscope.stop();
      await revived?.close();
    }
  });
});

/** A stub runtime in its own process that streams an event every 10 ms to every GetContainerEvents call. */
const STUB_PROCESS = `
import { startStubCriServer } from ${JSON.stringify(new URL('../support/stub-cri-server.js', import.meta.url).href)};
const stub = await startStubCriServer(process.argv[1]);
setInterval(() => stub.emitContainerEvents(1), 10);
process.stdout.write('ready\\n');
`;

describe('a separate image endpoint', () => {
  it('serves kubelet’s image endpoint on a second socket relayed to the image service', async () => {
    const stubSocket = join(mkdtempSync(join(tmpdir(), 'criscope-stub-')), 'stub.sock');
    const stub = await startStubCriServer(stubSocket);
    const runtime = testRuntime();
    const criscope = await startCriscope({ runtimeSocket: stubSocket, imageSocket: runtime.containerdSocket });
    const runtimeClient = new CriTestClient(criscope.socketPath);
    const imageClient = new CriTestClient(criscope.imageSocketPath as string);
    try {
      assert.equal((await runtimeClient.call('Version'))['runtime_name'], 'criscope-stub', 'the runtime socket reaches the runtime endpoint');
      const images = (await imageClient.call('ListImages')) as { images: Message[] };
      const tags = images.images.flatMap((image) => image['repo_tags'] as string[]);
      assert.ok(tags.includes(runtime.busyboxImage), 'the image socket reaches the image endpoint (containerd)');
      await assert.rejects(runtimeClient.call('ListImages'), (error: unknown) => statusOf(error) === 12, 'the runtime endpoint answers image calls itself, as without criscope');
    } finally {
      runtimeClient.close();
      imageClient.close();
      await criscope.stop();
      await stub.close();
    }
  });
});

