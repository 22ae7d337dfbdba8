import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CriTestClient } from '../support/cri-client.js';
import { startCriscope } from '../support/criscope-process.js';
import { policyFile, writePolicy } from '../support/policy-env.js';
import { criscopeWithPolicy, metric, PERMISSION_DENIED, rejection } from '../support/policy-calls.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const runtime = testRuntime();
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));
const ERROR = 50;
const RELOADS = 'criscope_policy_reloads_total';
const LAST_RELOAD_OK = 'criscope_policy_last_reload_successful';

/** Any image of the test repository may be pulled. */
const ANY_TEST_IMAGE = { rules: [{ kind: 'images', name: 'test-images', allowed: [`${TEST_REPOSITORY}/**`] }] };
/** Only the pause image may be pulled. */
const PAUSE_ONLY = { rules: [{ kind: 'images', name: 'pause-only', allowed: [`${TEST_REPOSITORY}/pause:*`] }] };
const BUSYBOX_DENIED = `criscope policy "pause-only.allowed": image "${runtime.busyboxImage}" is not in an allowed registry or repository`;

/**
 * Runs `during` while a loop keeps calling Version through criscope; resolves
 * with how many of those calls succeeded and the errors of any that failed.
 */
async function whileCalling(client: CriTestClient, during: () => Promise<void>): Promise<{ succeeded: number; failures: string[] }> {
  let running = true;
  let succeeded = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        await client.call('Version', { version: 'v1' }, { timeoutMs: 5000 });
        succeeded++;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  })();
  try {
    await during();
  } finally {
    running = false;
    await loop;
  }
  return { succeeded, failures };
}

/** Whether a pull of busybox (present already, so cheap) is denied by the pause-only policy now. */
async function busyboxPullDenied(client: CriTestClient): Promise<boolean> {
  try {
    await client.call('PullImage', { image: { image: runtime.busyboxImage } });
    return false;
  } catch (error) {
    if ((error as { code?: number }).code !== PERMISSION_DENIED) throw error;
    return true;
  }
}

describe('the policy file reloaded while criscope serves', () => {
  const fixture = criscopeWithPolicy(runtime.containerdSocket, ANY_TEST_IMAGE);
  const reloadFailedLines = (): Record<string, unknown>[] => fixture.criscope.logLines().filter((line) => line['msg'] === 'policy reload failed; the policy in force stays');

  it('puts a rewritten file in force within seconds, without failing a call', async () => {
    const { client, criscope } = fixture;
    assert.equal(await busyboxPullDenied(client), false, 'busybox may be pulled under the first policy');
    const successes = await metric(criscope.httpUrl, RELOADS, { result: 'success' });
    const calls = await whileCalling(client, async () => {
      writePolicy(fixture.path, PAUSE_ONLY);
      await waitFor(() => busyboxPullDenied(client), 'the rewritten policy to be in force', 5000);
    });
    assert.deepEqual(calls.failures, []);
    assert.ok(calls.succeeded > 0, 'Version calls ran throughout');
    const { details } = await rejection(client.call('PullImage', { image: { image: runtime.busyboxImage } }));
    assert.equal(details, BUSYBOX_DENIED);
    assert.equal(await metric(criscope.httpUrl, RELOADS, { result: 'success' }), successes + 1);
    assert.equal(await metric(criscope.httpUrl, LAST_RELOAD_OK), 1);
    assert.ok(criscope.logLines().some((line) => line['msg'] === 'policy reloaded' && line['path'] === fixture.path));
  });

  it('reloads the file on SIGHUP, even unchanged', async () => {
    const { client, criscope } = fixture;
    const reloaded = (): number => criscope.logLines().filter((line) => line['msg'] === 'policy reloaded').length;
    const [successes, linesBefore] = [await metric(criscope.httpUrl, RELOADS, { result: 'success' }), reloaded()];
    const calls = await whileCalling(client, async () => {
      criscope.child.kill('SIGHUP');
      await waitFor(async () => (await metric(criscope.httpUrl, RELOADS, { result: 'success' })) === successes + 1, 'SIGHUP to reload the policy', 5000);
    });
    assert.deepEqual(calls.failures, []);
    assert.equal(reloaded(), linesBefore + 1);
    assert.equal(await busyboxPullDenied(client), true, 'the reloaded policy is in force');
  });

  const badFiles = [
    { name: 'is not valid YAML', text: 'rules: [ { kind: images\n', reason: /^invalid policy in \S+: \(root\): not valid YAML: / },
    {
      name: 'has a rule with an unknown field',
      text: `rules:\n  - kind: images\n    name: pause-only\n    allowed: ["${TEST_REPOSITORY}/busybox:*"]\n    denyEverything: true\n`,
      reason: /^invalid policy in \S+: rules\[0\]: .*"denyEverything"/,
    },
  ];
  for (const { name, text, reason } of badFiles) {
    it(`keeps the policy in force when the new file ${name}, logs the path and reason, and sets the metrics`, async () => {
      const { client, criscope } = fixture;
      const [failures, linesBefore] = [await metric(criscope.httpUrl, RELOADS, { result: 'failure' }), reloadFailedLines().length];
      const calls = await whileCalling(client, async () => {
        writeFileSync(fixture.path, text);
        await waitFor(async () => (await metric(criscope.httpUrl, RELOADS, { result: 'failure' })) === failures + 1, 'the reload to fail', 5000);
      });
      assert.deepEqual(calls.failures, []);
      assert.equal(await metric(criscope.httpUrl, LAST_RELOAD_OK), 0);
      const [line] = reloadFailedLines().slice(linesBefore);
      assert.ok(line, 'the failure was logged');
      assert.equal(line['level'], ERROR);
      assert.equal(line['path'], fixture.path);
      const err = line['err'] as { message: string; stack: string; type: string };
      assert.match(err.message, reason);
      assert.ok(err.message.includes(fixture.path), 'the reason names the file');
      assert.equal(err.type, 'PolicyFileError', 'the error is logged whole, with its type and stack');
      assert.ok(err.stack.includes('\n    at '), 'with its stack');
      const { code, details } = await rejection(client.call('PullImage', { image: { image: runtime.busyboxImage } }));
      assert.equal(code, PERMISSION_DENIED);
      assert.equal(details, BUSYBOX_DENIED, 'the old policy is still in force');
    });
  }

  it('recovers when a good file follows a bad one', async () => {
    const { client, criscope } = fixture;
    writePolicy(fixture.path, ANY_TEST_IMAGE);
    await waitFor(async () => !(await busyboxPullDenied(client)), 'the good policy to be in force', 5000);
    assert.equal(await metric(criscope.httpUrl, LAST_RELOAD_OK), 1);
  });
});

describe('a bad policy file at start', () => {
  const cases = [
    { name: 'an unknown field', text: 'rules:\n  - kind: security\n    denyPrivileged: true\n    denyEverything: true\n', field: /rules\[0\]: .*"denyEverything"/ },
    { name: 'a bad value', text: 'rules:\n  - kind: resources\n    maxMemory: lots\n', field: /rules\[0\]\.maxMemory: / },
  ];
  for (const { name, text, field } of cases) {
    it(`refuses to start on ${name}, naming the file and the field`, async () => {
      const path = policyFile({});
      writeFileSync(path, text);
      await assert.rejects(startCriscope({ runtimeSocket: runtime.containerdSocket, config: { policyFile: path } }), (error: Error) => {
        assert.match(error.message, /^criscope exited with [1-9]\d*:/);
        assert.ok(error.message.includes(`invalid policy in ${path}: `), error.message);
        assert.match(error.message, field);
        return true;
      });
    });
  }
});
