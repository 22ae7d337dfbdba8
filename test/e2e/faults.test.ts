import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { statusOf } from '../support/cri-client.js';
import { criscopeInFrontOf } from '../support/criscope-fixture.js';
import { grpcFrame, openH2 } from '../support/raw-h2.js';
import { exchangeRaw } from '../support/raw-socket.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const runtime = testRuntime();

function containerd(action: 'start' | 'stop'): void {
  execFileSync('bash', [runtime.containerdCtl, action], { stdio: 'ignore', timeout: 60_000 });
}


describe('faults around criscope, with the real containerd', () => {
  const fixture = criscopeInFrontOf(runtime.containerdSocket, () => containerd('start'));

  it('answers UNAVAILABLE promptly while the runtime is down, and heals when it is back', async () => {
    await fixture.client.call('Version');
    containerd('stop');
    try {
      const started = Date.now();
      // The first call may still meet containerd's own goodbye (its GOAWAY refuses the stream): UNAVAILABLE either way.
      await assert.rejects(fixture.client.call('Version', {}, { timeoutMs: 20_000 }), (error: unknown) => statusOf(error) === 14);
      await assert.rejects(
        fixture.client.call('Version', {}, { timeoutMs: 20_000 }),
        (error: unknown) =>
          statusOf(error) === 14 &&
          /criscope: (cannot reach the runtime at unix:\/\/.*: ENOENT|the runtime closed the connection)/.test((error as { details: string }).details),
      );
      assert.ok(Date.now() - started < 2000, `UNAVAILABLE came after ${Date.now() - started} ms`);
      const health = await fetch(`${fixture.criscope.httpUrl}/healthz`);
      assert.equal(health.status, 200, 'criscope itself is alive');
      const ready = await fetch(`${fixture.criscope.httpUrl}/readyz`);
      assert.equal(ready.status, 503, 'but not ready');
    } finally {
      containerd('start');
    }
    // A connection the client opened while containerd was going down may have met its goodbye: criscope answers
    // on it (UNAVAILABLE, for up to 2 s, so a new client hears why) until its GOAWAY sends the client to
    // a fresh connection, which reaches the runtime. Healing is that: within seconds, not on the first call.
    let runtimeName: unknown;
    await waitFor(async () => {
      runtimeName = (await fixture.client.call('Version').catch(() => undefined))?.['runtime_name'];
      return runtimeName !== undefined;
    }, 'a call through criscope after the restart', 5000);
    assert.equal(runtimeName, 'containerd');
    await waitFor(async () => (await fetch(`${fixture.criscope.httpUrl}/readyz`)).status === 200, 'readiness after the restart');
    assert.equal(fixture.criscope.child.exitCode, null);
  });

  it('survives garbage, a half-open connection and an abrupt disconnect without disturbing other calls', async () => {
    const halfOpen = connect(fixture.criscope.socketPath);
    await new Promise((resolve) => halfOpen.once('connect', resolve));
    // Bytes that are not HTTP/2 are answered with a GOAWAY (type 7, PROTOCOL_ERROR) that says why.
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(4096, 0xff)]) {
      const answer = await exchangeRaw(fixture.criscope.socketPath, garbage);
      assert.equal(answer[3], 7, 'a GOAWAY frame');
      assert.equal(answer.readUInt32BE(13), 1, 'PROTOCOL_ERROR');
      assert.match(answer.subarray(17).toString(), /criscope: expected gRPC \(HTTP\/2 with prior knowledge\)/);
    }
    // A valid preface followed by malformed frames goes to the runtime, which answers as it sees fit.
    await exchangeRaw(fixture.criscope.socketPath, Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00\x00\x00\x00\x00\xde\xad\xbe\xef', 'latin1'));

    // A client that opens a call and vanishes mid-message.
    const session = openH2(fixture.criscope.socketPath);
    const stream = session.request({ ':method': 'POST', ':path': '/runtime.v1.RuntimeService/Version', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.write(grpcFrame(Buffer.alloc(64)).subarray(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    session.destroy();

    const results = await Promise.all(Array.from({ length: 20 }, () => fixture.client.call('Version')));
    assert.equal(results.length, 20);
    assert.equal(fixture.criscope.child.exitCode, null, 'criscope is still running');
    halfOpen.destroy();
  });
});

