import { strict as assert } from 'node:assert';
import { after, before } from 'node:test';
import { CriTestClient } from './cri-client.js';
import { startCriscope, type CriscopeProcess } from './criscope-process.js';

export interface CriscopeFixture {
  readonly criscope: CriscopeProcess;
  readonly client: CriTestClient;
}

/**
 * For the enclosing describe: criscope in front of `runtimeSocket` with a CRI
 * client on its socket, started before the tests and stopped after them;
 * criscope must exit 0 on SIGTERM. `beforeStop` runs first (e.g. to restart
 * what a test stopped).
 */
export function criscopeInFrontOf(runtimeSocket: string, beforeStop: () => void = () => undefined): CriscopeFixture {
  let started: CriscopeFixture | undefined;
  before(async () => {
    const criscope = await startCriscope({ runtimeSocket });
    started = { criscope, client: new CriTestClient(criscope.socketPath) };
  });
  after(async () => {
    if (started === undefined) return;
    started.client.close();
    beforeStop();
    assert.equal(await started.criscope.stop(), 0, 'criscope exits 0 on SIGTERM');
  });
  const get = (): CriscopeFixture => {
    if (started === undefined) throw new Error('the criscope fixture is used before its before() hook ran');
    return started;
  };
  return {
    get criscope() {
      return get().criscope;
    },
    get client() {
      return get().client;
    },
  };
}
