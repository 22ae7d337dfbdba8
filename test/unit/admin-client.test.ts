import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { AdminSocketError, readCalls } from '../../src/cli/admin-client.js';
import { tail, type TailOptions } from '../../src/cli/tail.js';
import type { CallEntry } from '../../src/telemetry/recorder/call-entry.js';

const FOLLOW_NOTHING: TailOptions = { pods: [], namespaces: [], methods: [], errors: false, denied: false, slowerThanMs: undefined, service: undefined, json: true, sinceMs: undefined, follow: false };

/**
 * An admin socket whose /v1/calls answer is written by `answer`, in the pieces it chooses.
 * A stand-in for criscope's AdminServer (admin-server.test.ts runs the real one): only here
 * can a test choose where the socket cuts a line, or send a line that is not JSON.
 */
async function callsServer(answer: (response: ServerResponse) => Promise<void> | void): Promise<{ socketPath: string; server: Server }> {
  const socketPath = join(mkdtempSync(join(tmpdir(), 'criscope-admin-client-')), 'admin.sock');
  const server = createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    void answer(response);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { socketPath, server };
}

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe('reading the calls stream', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  const entryLine = (method: string, pod: string): string => JSON.stringify({ v: 1, method, podNamespace: 'default', podName: pod }) + '\n';
  const first = entryLine('RunPodSandbox', 'café');
  const lost = '{"v":1,"lost":3}\n';
  const second = entryLine('CreateContainer', 'web');
  // Cut inside the two bytes of "é", and inside the lost line.
  const bytes = Buffer.from(first + lost + second);
  const cutInCharacter = Buffer.from(first).indexOf(Buffer.from('é')) + 1;
  const cutInLost = Buffer.byteLength(first) + 5;

  it('reads lines cut anywhere by the socket, a character’s bytes included, and the last without its newline', async () => {
    const { socketPath, server } = await callsServer(async (response) => {
      response.write(bytes.subarray(0, cutInCharacter));
      await pause();
      response.write(bytes.subarray(cutInCharacter, cutInLost));
      await pause();
      response.end(bytes.subarray(cutInLost, bytes.length - 1));
    });
    servers.push(server);
    const heard: string[] = [];
    await readCalls(socketPath, new URLSearchParams(), {
      onCall: (entry: CallEntry) => heard.push(`call ${entry.method} ${entry.podName ?? ''}`),
      onLost: (count) => heard.push(`lost ${count}`),
      onRecorderOff: () => heard.push('off'),
    });
    assert.deepEqual(heard, ['call RunPodSandbox café', 'lost 3', 'call CreateContainer web']);
  });

  it('tail --json prints criscope’s lines as they came, each write whole lines, the last given its newline', async () => {
    const { socketPath, server } = await callsServer(async (response) => {
      response.write(bytes.subarray(0, cutInCharacter));
      await pause();
      response.write(bytes.subarray(cutInCharacter, cutInLost));
      await pause();
      response.end(bytes.subarray(cutInLost, bytes.length - 1));
    });
    servers.push(server);
    const printed = new PassThrough();
    const writes: string[] = [];
    printed.on('data', (chunk: Buffer) => writes.push(chunk.toString()));
    await tail(socketPath, FOLLOW_NOTHING, printed as unknown as NodeJS.WriteStream, new PassThrough());
    assert.equal(writes.join(''), first + lost + second);
    assert.deepEqual(writes, [first, lost, second], 'a reader stopped between two reads never holds part of a line');
  });

  it('tail --json refuses a stream that does not begin with a JSON line, and prints none of it', async () => {
    const { socketPath, server } = await callsServer((response) => {
      response.end('<html>not criscope</html>\n' + first);
    });
    servers.push(server);
    const printed = new PassThrough();
    await assert.rejects(
      tail(socketPath, FOLLOW_NOTHING, printed as unknown as NodeJS.WriteStream, new PassThrough()),
      (error: unknown) => error instanceof AdminSocketError && /does not speak criscope's admin API \(a line that is not a JSON object\)/.test(error.message),
    );
    assert.equal(printed.read(), null);
  });

  it('tail --json copies blank lines and lost lines first as they came, and refuses a first line that is JSON but no object', async () => {
    const { socketPath, server } = await callsServer((response) => {
      response.end('\n' + lost + first);
    });
    servers.push(server);
    const printed = new PassThrough();
    await tail(socketPath, FOLLOW_NOTHING, printed as unknown as NodeJS.WriteStream, new PassThrough());
    assert.equal(String(printed.read()), '\n' + lost + first);
    const { socketPath: numberSocket, server: numberServer } = await callsServer((response) => {
      response.end('5\n' + first);
    });
    servers.push(numberServer);
    for (const json of [true, false]) {
      await assert.rejects(
        tail(numberSocket, { ...FOLLOW_NOTHING, json }, new PassThrough() as unknown as NodeJS.WriteStream, new PassThrough()),
        (error: unknown) => error instanceof AdminSocketError && /\(a line that is not a JSON object\)/.test(error.message),
        `with json ${json}`,
      );
    }
  });

  it('gives up on a stream with no line end in its first MiB, with or without --json', { timeout: 20_000 }, async () => {
    const { socketPath, server } = await callsServer((response) => {
      // Something that never ends a line, and never ends its answer.
      response.write('x'.repeat(1024 * 1024 + 1));
    });
    servers.push(server);
    for (const json of [true, false]) {
      await assert.rejects(
        tail(socketPath, { ...FOLLOW_NOTHING, json }, new PassThrough() as unknown as NodeJS.WriteStream, new PassThrough()),
        (error: unknown) => error instanceof AdminSocketError && /\(no line end in 1048576 bytes\)/.test(error.message),
        `with json ${json}`,
      );
    }
  });

  it('refuses a stream with a line that is not JSON, and says so', async () => {
    const { socketPath, server } = await callsServer((response) => {
      response.end(first + 'not json\n' + second);
    });
    servers.push(server);
    const heard: string[] = [];
    const reading = readCalls(socketPath, new URLSearchParams(), { onCall: (entry) => heard.push(entry.method), onLost: () => undefined, onRecorderOff: () => undefined });
    await assert.rejects(reading, (error: unknown) => error instanceof AdminSocketError && /does not speak criscope's admin API \(a line that is not a JSON object\)/.test(error.message));
    assert.deepEqual(heard, ['RunPodSandbox'], 'the calls before it were read, none after it');
  });
});
