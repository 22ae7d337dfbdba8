import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CriTestClient, statusOf, type Message } from '../support/cri-client.js';
import { startCriscope, type CriscopeProcess } from '../support/criscope-process.js';
import { scrape, total } from '../support/metrics-scrape.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { policyFile } from '../support/policy-env.js';
import { testRuntime } from '../support/runtime-env.js';

// The node build (scripts/build.mjs) as it runs on a node: copied alone into an empty directory
// with no node_modules above it, and no NODE_PATH, so nothing it needs can come from the checkout.

const runtime = testRuntime();
const DIST = fileURLToPath(new URL('../../', import.meta.url));
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
/** What the build writes instead of dist/criscope when this machine cannot build a single executable. */
const EXECUTABLE_SKIPPED = join(DIST, 'criscope.sea-skipped');
const PERMISSION_DENIED = 7;
const TEST_REPOSITORY = runtime.busyboxImage.slice(0, runtime.busyboxImage.lastIndexOf('/'));

delete process.env['NODE_PATH'];

/** An empty directory under /tmp; fails if a node_modules above it could lend the build a package. */
function bareDirectory(): string {
  const directory = mkdtempSync('/tmp/criscope-node-build-');
  for (let parent = dirname(directory); ; parent = dirname(parent)) {
    assert.ok(!existsSync(join(parent, 'node_modules')), `${join(parent, 'node_modules')} exists: the node build could load packages from it`);
    if (parent === dirname(parent)) break;
  }
  return directory;
}

function rejection(call: Promise<unknown>): Promise<{ code: number | undefined; details: string }> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: unknown) => ({ code: statusOf(error), details: (error as { details?: string }).details ?? '' }),
  );
}

/** The same list call direct and through criscope, retried while other tests change the runtime's state under it. */
async function sameAnswer(direct: CriTestClient, relayed: CriTestClient, method: string): Promise<{ direct: Message; relayed: Message }> {
  for (let attempt = 1; ; attempt++) {
    const before = await direct.call(method);
    const through = await relayed.call(method);
    const afterwards = await direct.call(method);
    if (JSON.stringify(before) === JSON.stringify(afterwards) || attempt === 5) return { direct: before, relayed: through };
  }
}

/** A running node build, its client, and the OTLP receiver its spans go to. */
interface Served {
  readonly criscope: CriscopeProcess;
  readonly client: CriTestClient;
  readonly receiver: OtlpReceiver;
}

const BUILDS = [
  { file: 'criscope', what: 'the single executable', skip: existsSync(EXECUTABLE_SKIPPED) ? readFileSync(EXECUTABLE_SKIPPED, 'utf8').trim() : false },
  { file: 'criscope.cjs', what: 'the bundled script', skip: false },
] as const;

for (const build of BUILDS) {
  describe(`the node build, ${build.what} (dist/${build.file}), alone in a directory`, { skip: build.skip }, () => {
    let directory = '';
    let executable = '';
    before(() => {
      directory = bareDirectory();
      executable = join(directory, build.file);
      copyFileSync(join(DIST, build.file), executable);
    });

    it('prints the version from package.json', () => {
      const result = spawnSync(executable, ['--version'], { cwd: directory, encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.stderr, '');
      assert.equal(result.stdout, `criscope ${version}\n`);
      assert.equal(result.status, 0);
    });

    describe('serve, with tracing and a policy', () => {
      const direct = new CriTestClient(runtime.containerdSocket);
      let receiver: OtlpReceiver | undefined;
      let served: Served | undefined;
      const serving = (): Served => {
        assert.ok(served !== undefined, 'criscope did not start');
        return served;
      };

      before(async () => {
        receiver = await OtlpReceiver.start();
        const policy = policyFile({
          mode: 'enforce',
          rules: [
            { kind: 'images', name: 'test-registry', allowed: [`${TEST_REPOSITORY}/**`] },
            { kind: 'cel', name: 'no-latest', expression: '!request.image.image.endsWith(":latest")', message: 'pin a tag', methods: ['PullImage'] },
          ],
        });
        const criscope = await startCriscope({
          runtimeSocket: runtime.containerdSocket,
          program: { executable, cwd: directory },
          config: { policyFile: policy, tracing: { enabled: true, endpoint: receiver.endpoint, exportDelayMillis: 50 } },
        });
        served = { criscope, client: new CriTestClient(criscope.socketPath), receiver };
      });

      // Also after a failed start: the receiver's server would keep the test file running.
      after(async () => {
        direct.close();
        served?.client.close();
        const exitCode = await served?.criscope.stop();
        await receiver?.close();
        if (served !== undefined) assert.equal(exitCode, 0);
      });

      it('answers Version and ListPodSandbox as the runtime does', async () => {
        const { client } = serving();
        assert.deepEqual(await client.call('Version', { version: 'v1' }), await direct.call('Version', { version: 'v1' }));
        const pods = await sameAnswer(direct, client, 'ListPodSandbox');
        assert.deepEqual(pods.relayed, pods.direct);
      });

      it('counts the calls on /metrics, logs each one, and exports its span over OTLP gRPC', async () => {
        const { client, criscope, receiver } = serving();
        await client.call('Version', { version: 'v1' });
        assert.ok(total(await scrape(criscope.httpUrl), 'criscope_cri_calls_total', { method: 'Version', code: 'OK' }) >= 1);
        assert.ok(criscope.logLines().some((line) => line['msg'] === 'call' && line['method'] === 'Version'));
        const spans = await receiver.waitForSpans((all) => all.some((span) => span.name === 'runtime.v1.RuntimeService/Version'));
        const span = spans.find((each) => each.name === 'runtime.v1.RuntimeService/Version');
        assert.equal(span?.resource['service.version'], version);
      });

      it('denies pulls by an image pattern rule and by a CEL rule, each with its message', async () => {
        const { client } = serving();
        const elsewhere = await rejection(client.call('PullImage', { image: { image: 'registry.invalid/busybox:1.36' } }));
        assert.equal(elsewhere.code, PERMISSION_DENIED);
        assert.equal(elsewhere.details, 'criscope policy "test-registry.allowed": image "registry.invalid/busybox:1.36" is not in an allowed registry or repository');
        const latest = await rejection(client.call('PullImage', { image: { image: `${TEST_REPOSITORY}/busybox:latest` } }));
        assert.equal(latest.code, PERMISSION_DENIED);
        assert.equal(latest.details, 'criscope policy "no-latest": pin a tag');
      });
    });
  });
}
