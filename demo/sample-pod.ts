/**
 * The demo's workload: one sample pod driven through criscope as kubelet would
 * (start, exec, then a relist every 5 s) until SIGINT or SIGTERM, when it is
 * stopped and removed through criscope. Exits 0 when everything went through.
 *
 *   node dist/demo/sample-pod.js --socket /run/criscope-demo/criscope.sock --log-root /run/criscope-demo/pods
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { testRuntime } from '../test/support/runtime-env.js';
import { CriClient } from './cri-client.js';
import { errorText, removeLeftoverPods, SamplePod } from './demo-pod.js';

const RELIST_EVERY_MS = 5000;

const say = (line: string): void => void process.stdout.write(`sample-pod: ${line}\n`);

// The handlers stay installed: a second Ctrl-C during the teardown is absorbed, so the pod is not left behind.
let stopSignal: NodeJS.Signals | undefined;
const stopRequested = new Promise<void>((resolve) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      stopSignal ??= signal;
      resolve();
    });
});

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { socket: { type: 'string' }, 'log-root': { type: 'string' } }, strict: true });
  const socket = values.socket;
  const logRoot = values['log-root'];
  if (socket === undefined || logRoot === undefined) {
    process.stderr.write('usage: sample-pod --socket PATH --log-root DIR\n');
    return 2;
  }
  // The images scripts/test-runtime/up.sh put in the loopback registry and in containerd.
  const runtime = testRuntime();
  const client = new CriClient(socket);
  const pod = new SamplePod(client, { pull: runtime.pullOnlyImage, run: runtime.busyboxImage }, logRoot, say);
  let started = true;
  try {
    await client.ready(15_000);
    const leftovers = await removeLeftoverPods(client, logRoot);
    if (leftovers > 0) say(`removed ${leftovers} pod(s) an earlier run left behind`);
    await pod.start();
    if (stopSignal === undefined) say(`pod running; relisting every ${RELIST_EVERY_MS / 1000} s as kubelet does (Ctrl-C stops)`);
    while (stopSignal === undefined) {
      await Promise.race([sleep(RELIST_EVERY_MS), stopRequested]);
      // A failed relist is shown and the next one tried, as kubelet does (someone may have removed the container by hand).
      if (stopSignal === undefined) await pod.relist().catch((error: unknown) => say(`relist failed: ${errorText(error)}`));
    }
  } catch (error) {
    started = false;
    say(`failed: ${errorText(error)}`);
  }
  say(stopSignal === undefined ? 'removing what was created' : `${stopSignal}: stopping and removing the pod through criscope`);
  const removed = await pod.remove();
  client.close();
  return started && removed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`failed: ${errorText(error)}`);
    process.exit(1);
  },
);
