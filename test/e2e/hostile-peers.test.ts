import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFrame, CLIENT_PREFACE, Flag, FrameType, settingsFrame } from '../../src/relay/http2-frames.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { CriTestClient, statusOf } from '../support/cri-client.js';
import { criscopeInFrontOf } from '../support/criscope-fixture.js';
import { exchangeRaw } from '../support/raw-socket.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';
import { Http2ErrorCode } from '../../src/wire-codes.js';


/** The frame types in a byte stream of whole frames. */
function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let offset = 0; offset + 9 <= bytes.length; offset += 9 + bytes.readUIntBE(offset, 3)) types.push(bytes[offset + 3]);
  return types;
}

/** Malformed frames; `code` is criscope's own answer (RFC 9113), where the frame layer tells it is malformed. */
const MALFORMED: { name: string; frame: Buffer; code?: number }[] = [
  { name: 'RST_STREAM with an empty payload', frame: buildFrame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(0)), code: Http2ErrorCode.FRAME_SIZE_ERROR },
  { name: 'HEADERS with a pad length past its payload', frame: buildFrame(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1, Buffer.from([200, 1])), code: Http2ErrorCode.PROTOCOL_ERROR },
  { name: 'HEADERS with PRIORITY and a 2-byte payload', frame: buildFrame(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, Buffer.from([1, 2])), code: Http2ErrorCode.FRAME_SIZE_ERROR },
  { name: 'DATA with a pad length past its payload', frame: buildFrame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([50, 1, 2])), code: Http2ErrorCode.PROTOCOL_ERROR },
  { name: 'a header block that is not HPACK', frame: buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])) },
];

/** The error code of the first GOAWAY in a byte stream of whole frames. */
function goawayCode(bytes: Buffer): number | undefined {
  for (let offset = 0; offset + 9 <= bytes.length; offset += 9 + bytes.readUIntBE(offset, 3)) {
    if (bytes[offset + 3] === FrameType.GOAWAY) return bytes.readUInt32BE(offset + 13);
  }
  return undefined;
}

describe('hostile clients, against the real containerd', () => {
  const runtime = testRuntime();
  const fixture = criscopeInFrontOf(runtime.containerdSocket);

  for (const { name, frame, code } of MALFORMED) {
    const answer = code === undefined ? 'relays it for the runtime to judge' : `answers it with GOAWAY(${code}) itself`;
    it(`${answer} (${name}), and keeps serving everyone else`, async () => {
      const received = await exchangeRaw(fixture.criscope.socketPath, Buffer.concat([CLIENT_PREFACE, settingsFrame(false), frame]));
      if (code !== undefined) assert.equal(goawayCode(received), code);
      assert.equal((await fixture.client.call('Version'))['runtime_name'], 'containerd');
      assert.equal(fixture.criscope.child.exitCode, null);
    });
  }

  it('ends a connection whose frame is longer than the runtime accepts, without buffering it', async () => {
    const oversized = Buffer.from([0xff, 0xff, 0xff, FrameType.DATA, 0, 0, 0, 0, 1]);
    const answer = await exchangeRaw(fixture.criscope.socketPath, Buffer.concat([CLIENT_PREFACE, settingsFrame(false), oversized, Buffer.alloc(64 * 1024)]));
    assert.ok(frameTypes(answer).includes(FrameType.GOAWAY));
    assert.match(answer.toString('latin1'), /criscope: a 16777215-byte frame exceeds the runtime's limit of 16384/);
    assert.equal((await fixture.client.call('Version'))['runtime_name'], 'containerd');
  });

  for (const [size, count] of [
    [16_000, 100],
    [0, 2000],
  ] as const) {
    it(`stops reading an endless header block of ${size}-byte CONTINUATIONs instead of holding it, and keeps relaying`, async () => {
      const blindLines = (): number => fixture.criscope.logLines().filter((line) => line['msg'] === 'cannot follow a client connection; relaying it without call records').length;
      const before = blindLines();
      const continuation = buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(size, 0x41));
      const flood = Buffer.concat([CLIENT_PREFACE, settingsFrame(false), buildFrame(FrameType.HEADERS, 0, 1, Buffer.alloc(100, 0x41)), ...Array<Buffer>(count).fill(continuation)]);
      await exchangeRaw(fixture.criscope.socketPath, flood, 300);
      await waitFor(() => blindLines() > before, 'the log line for a connection criscope stopped reading');
      assert.equal((await fixture.client.call('Version'))['runtime_name'], 'containerd');
    });
  }
});

describe('hostile or broken runtimes', () => {
  // containerd never sends malformed frames, so a fake runtime on a raw socket stands in for one that does.
  let fakeRuntime: Server;
  let runtimeSocket: string;
  // Until a test sets its own, the runtime hangs up: criscope's warm-up at start connects too.
  let behaviour: (socket: Socket) => void = (socket) => socket.destroy();
  let criscope: CriscopeProcess;

  before(async () => {
    runtimeSocket = join(mkdtempSync(join(tmpdir(), 'criscope-fake-runtime-')), 'runtime.sock');
    fakeRuntime = createServer((socket) => behaviour(socket));
    await new Promise<void>((resolve) => fakeRuntime.listen(runtimeSocket, resolve));
    criscope = await startCriscope({ runtimeSocket });
  });

  after(async () => {
    assert.equal(await criscope.stop(), 0);
    fakeRuntime.close();
  });

  for (const { name, frame } of MALFORMED.filter((entry) => !entry.name.startsWith('a header block'))) {
    it(`survives a runtime that sends ${name}`, async () => {
      behaviour = (socket) => {
        socket.on('error', () => undefined);
        socket.write(Buffer.concat([settingsFrame(false), frame]));
        socket.on('data', () => undefined);
      };
      const client = new CriTestClient(criscope.socketPath);
      await client.call('Version', {}, { timeoutMs: 500 }).catch(() => undefined);
      client.close();
      assert.equal(criscope.child.exitCode, null, 'criscope is still running');
    });
  }

  it('answers UNAVAILABLE with its reason when the runtime accepts and hangs up at once', async () => {
    behaviour = (socket) => socket.destroy();
    const client = new CriTestClient(criscope.socketPath);
    try {
      await assert.rejects(
        client.call('Version', {}, { timeoutMs: 5000 }),
        (error: unknown) => statusOf(error) === 14 && /criscope: the runtime closed the connection/.test((error as { details: string }).details),
      );
    } finally {
      client.close();
    }
  });
});

