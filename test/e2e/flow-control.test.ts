import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import type { ClientHttp2Session } from 'node:http2';
import { describe, it } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { criMethod, type Message } from '../support/cri-client.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { policyFile } from '../support/policy-env.js';
import { MIB, rawStatus } from '../support/policy-calls.js';
import { grpcFrame, openH2, rawCall } from '../support/raw-h2.js';
import { waitFor } from '../support/wait.js';
import { startStrictRuntime, type StrictRuntime, type StrictRuntimeOptions } from '../support/strict-h2-runtime.js';

// The runtime here is a small strict HTTP/2 peer (test/support/strict-h2-runtime.ts):
// containerd cannot be given small windows, and grpc-go checks neither window
// to the letter; this peer does, and gives credit back as late as it may.

const CREATE_CONTAINER = '/runtime.v1.RuntimeService/CreateContainer';
const CAP = 64 * MIB;

const requestType = criMethod('CreateContainer').requestType;
const memoryLimitOf = (body: Buffer): number => {
  const decoded = requestType.toObject(requestType.decode(body.subarray(5)), { longs: Number }) as {
    config?: { linux?: { resources?: { memory_limit_in_bytes?: number } } };
  };
  return decoded.config?.linux?.resources?.memory_limit_in_bytes ?? 0;
};

/** A CreateContainer that sets no memory limit, `padding` bytes of environment long: a clamp makes it longer. */
function unlimitedContainer(name: string, padding: number): Buffer {
  const config: Message = {
    metadata: { name, attempt: 0 },
    image: { image: 'registry.invalid/app:1' },
    envs: padding > 0 ? [{ key: 'PADDING', value: 'x'.repeat(padding) }] : [],
    linux: { resources: { cpu_shares: 2 } },
  };
  return grpcFrame(requestType.encode(requestType.fromObject({ pod_sandbox_id: 'sandbox-on-the-peer', config })).finish());
}

/**
 * Resolves once the peer behind criscope applies its own SETTINGS (nghttp2
 * does on the client's ACK): the first PING's answer follows the peer's
 * SETTINGS, which the client ACKs at once; the second PING follows that ACK.
 */
async function settingsSettled(session: ClientHttp2Session): Promise<void> {
  // node:http2 cancels a PING sent before the session has connected.
  if (session.connecting) await once(session, 'connect');
  for (let round = 0; round < 2; round++) {
    await new Promise<void>((resolve, reject) => session.ping((error) => (error === null ? resolve() : reject(error))));
  }
}

interface StrictFixture {
  readonly runtime: StrictRuntime;
  readonly criscope: CriscopeProcess;
  readonly session: ClientHttp2Session;
}

/** For the enclosing describe: the strict peer, criscope in front of it clamping memory to 64 MiB, and a session to criscope. */
function strictBehindCriscope(options: StrictRuntimeOptions): () => StrictFixture {
  let started: StrictFixture | undefined;
  before(async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'criscope-strict-')), 'runtime.sock');
    const runtime = await startStrictRuntime(socket, options);
    const policy = policyFile({ rules: [{ kind: 'resources', maxMemory: '64Mi', action: 'clamp' }] });
    const criscope = await startCriscope({ runtimeSocket: socket, config: { policyFile: policy } });
    started = { runtime, criscope, session: openH2(criscope.socketPath) };
    await settingsSettled(started.session);
  });
  after(async () => {
    if (started === undefined) return;
    started.session.close();
    assert.equal(await started.criscope.stop(), 0, 'criscope exits 0 on SIGTERM');
    await started.runtime.close();
  });
  return () => {
    if (started === undefined) throw new Error('the strict fixture is used before its before() hook ran');
    return started;
  };
}

/** Every request the peer received for `name` arrived whole and clamped, and the peer saw no flow-control violation. */
function assertClampedAndWhole(runtime: StrictRuntime, names: readonly string[]): void {
  assert.deepEqual(runtime.violations, [], 'the runtime saw no flow-control violation');
  for (const name of names) {
    const received = runtime.requests.filter((body) => body.includes(Buffer.from(name)));
    assert.equal(received.length, 1, `the runtime received ${name} once`);
    assert.equal(memoryLimitOf(received[0]), CAP, `${name} reached the runtime clamped`);
  }
}

describe('a clamp that lengthens a request, to a runtime whose stream window fits the request but not the edit', () => {
  const original = unlimitedContainer('between', 2000);
  // Between what kubelet sent and what criscope sends after the clamp adds the limit.
  const fixture = strictBehindCriscope({ initialWindowSize: original.length + 2 });

  it('waits for the runtime to grant more before sending the edited request, and the call succeeds', { timeout: 20_000 }, async () => {
    const { runtime, session } = fixture();
    const exchange = await rawCall(session, CREATE_CONTAINER, original);
    assert.equal(exchange.rstCode, 0, 'no RST_STREAM (FLOW_CONTROL_ERROR) from the runtime');
    assert.equal(rawStatus(exchange).code, 0);
    assertClampedAndWhole(runtime, ['between']);
  });
});

describe('a held request larger than the runtime stream window', () => {
  const original = unlimitedContainer('larger', 6000);
  const fixture = strictBehindCriscope({ initialWindowSize: 1024 });

  it('is taken in whole by criscope, judged, and sent on as the runtime grants credit', { timeout: 20_000 }, async () => {
    const { runtime, session } = fixture();
    assert.ok(original.length > 4 * 1024);
    const exchange = await rawCall(session, CREATE_CONTAINER, original);
    assert.equal(rawStatus(exchange).code, 0, 'the call completes instead of hanging until its deadline');
    assertClampedAndWhole(runtime, ['larger']);
  });
});

describe('200 concurrent clamped calls on one connection, to a runtime that enforces the connection window', () => {
  // The peer gives no connection credit until criscope has sent what it can: any byte over the first window is seen.
  const fixture = strictBehindCriscope({ initialWindowSize: 65_535, withholdConnectionCredit: true });

  it('never sends the runtime more than it granted: every call succeeds', { timeout: 30_000 }, async () => {
    const { runtime, session } = fixture();
    const names = Array.from({ length: 200 }, (_, index) => `concurrent-${String(index).padStart(3, '0')}`);
    const bodies = names.map((name) => unlimitedContainer(name, 900));
    assert.ok(bodies.reduce((sum, body) => sum + body.length, 0) > 2 * 65_535, 'together far more than the first connection window');
    const calls = Promise.all(bodies.map((body) => rawCall(session, CREATE_CONTAINER, body)));
    // All but the one request the client could send only in part (criscope judges a request once it is whole).
    await waitFor(() => runtime.receivedBytes >= 65_535 - bodies[0].length || runtime.violations.length > 0, 'criscope to spend the first connection window');
    runtime.grantCredit();
    const exchanges = await calls;
    assert.deepEqual(
      exchanges.map((exchange) => rawStatus(exchange).code),
      names.map(() => 0),
    );
    assertClampedAndWhole(runtime, names);
    const version = await rawCall(session, '/runtime.v1.RuntimeService/Version', grpcFrame(Buffer.alloc(0)));
    assert.equal(rawStatus(version).code, 0, 'and the connection still carries calls');
  });
});
