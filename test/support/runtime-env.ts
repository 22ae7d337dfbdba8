import { existsSync, readFileSync } from 'node:fs';

/** What scripts/test-runtime/up.sh started for the tests: a private containerd and a loopback registry. */
export interface TestRuntime {
  readonly containerdSocket: string;
  readonly containerdCtl: string;
  readonly pauseImage: string;
  readonly busyboxImage: string;
  readonly pullOnlyImage: string;
  readonly missingImage: string;
  readonly runtimeHandler: string;
}

const ENV_FILE = '/run/criscope-test/env';

/** Reads the env file up.sh writes; throws with the fix when the runtime is not up. */
export function testRuntime(): TestRuntime {
  if (!existsSync(ENV_FILE)) throw new Error(`${ENV_FILE} is missing: run "bash scripts/test-runtime/up.sh" first (npm test does)`);
  const values = new Map<string, string>();
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match !== null) values.set(match[1], match[2]);
  }
  const need = (key: string): string => {
    const value = values.get(key);
    if (value === undefined) throw new Error(`${ENV_FILE} has no ${key}`);
    return value;
  };
  return {
    containerdSocket: need('CRISCOPE_TEST_CONTAINERD_SOCK'),
    containerdCtl: need('CRISCOPE_TEST_CONTAINERD_CTL'),
    pauseImage: need('CRISCOPE_TEST_PAUSE_IMAGE'),
    busyboxImage: need('CRISCOPE_TEST_BUSYBOX_IMAGE'),
    pullOnlyImage: need('CRISCOPE_TEST_PULL_ONLY_IMAGE'),
    missingImage: need('CRISCOPE_TEST_MISSING_IMAGE'),
    runtimeHandler: need('CRISCOPE_TEST_RUNTIME_HANDLER'),
  };
}
