import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startCriscope, type CriscopeProcess, type StartOptions } from './criscope-process.js';
import { startEchoServer, type EchoServer } from './echo-h2-server.js';
import { openH2 } from './raw-h2.js';

export interface EchoFixture {
  readonly echo: EchoServer;
  readonly criscope: CriscopeProcess;
  /** A raw HTTP/2 session through criscope, and one straight to the echo peer, to compare. */
  readonly viaCriscope: ClientHttp2Session;
  readonly direct: ClientHttp2Session;
}

/**
 * For the enclosing describe: an HTTP/2 echo peer standing in for the runtime
 * (where containerd cannot show what it received), criscope in front of it,
 * and a session to each. `options` is read in the before() hook, so it may use
 * what earlier hooks started.
 */
export function echoBehindCriscope(options: () => Omit<StartOptions, 'runtimeSocket'> = () => ({})): EchoFixture {
  let started: EchoFixture | undefined;
  before(async () => {
    const echoSocket = join(mkdtempSync(join(tmpdir(), 'criscope-echo-')), 'echo.sock');
    const echo = await startEchoServer(echoSocket);
    const criscope = await startCriscope({ ...options(), runtimeSocket: echoSocket });
    started = { echo, criscope, viaCriscope: openH2(criscope.socketPath), direct: openH2(echoSocket) };
  });
  after(async () => {
    if (started === undefined) return;
    started.viaCriscope.close();
    started.direct.close();
    assert.equal(await started.criscope.stop(), 0, 'criscope exits 0 on SIGTERM');
    await started.echo.close();
  });
  const get = (): EchoFixture => {
    if (started === undefined) throw new Error('the echo fixture is used before its before() hook ran');
    return started;
  };
  return {
    get echo() {
      return get().echo;
    },
    get criscope() {
      return get().criscope;
    },
    get viaCriscope() {
      return get().viaCriscope;
    },
    get direct() {
      return get().direct;
    },
  };
}
