import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { CriTestClient } from '../support/cri-client.js';
import { testRuntime } from '../support/runtime-env.js';
import { SystemdLab } from '../support/systemd-lab.js';

const runtime = testRuntime();
/** The single executable `npm run build` makes: what an operator copies to a node. */
const NODE_BUILD = fileURLToPath(new URL('../../criscope', import.meta.url));
const KUBEADM_CONFIG = fileURLToPath(new URL('../../../test/fixtures/kubelet/kubeadm-1.33-config.yaml', import.meta.url));
const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
const CRISCOPE_ENDPOINT = 'unix:///run/criscope/criscope.sock';

function kubeletEndpoints(lab: SystemdLab): { runtime: unknown; image: unknown } {
  const config = parseYaml(readFileSync(join(lab.root, KUBELET_CONFIG), 'utf8')) as Record<string, unknown>;
  return { runtime: config['containerRuntimeEndpoint'], image: config['imageServiceEndpoint'] };
}

/** The image ids of a ListImages answer, sorted: containerd lists them in no fixed order. */
function imageIds(answer: Record<string, unknown>): string[] {
  return (answer['images'] as { id: string }[]).map((image) => image.id).sort();
}

/** Calls Version through criscope's socket on the node every `everyMs` until stopped; counts failures. */
function callContinuously(socketPath: string, everyMs: number): { stop(): Promise<{ calls: number; failures: string[] }> } {
  const client = new CriTestClient(socketPath);
  let running = true;
  let calls = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      calls += 1;
      await client.call('Version', {}, { timeoutMs: 10_000 }).catch((error: Error) => failures.push(error.message));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.close();
      return { calls, failures };
    },
  };
}

/**
 * The real units under a real systemd: systemd is not PID 1 on the test machines, so a
 * small node boots in systemd-nspawn (scripts/test-runtime/systemd-lab.sh) with the test
 * containerd at /run/containerd, and a stand-in kubelet.service that logs whether
 * criscope's socket was there when it started.
 */
describe('criscope as a systemd service on a node', { timeout: 240_000 }, () => {
  let lab: SystemdLab;
  const original = readFileSync(KUBEADM_CONFIG, 'utf8');

  before(() => {
    assert.ok(existsSync(NODE_BUILD), `${NODE_BUILD} is missing: npm run build makes it`);
    lab = SystemdLab.boot();
    mkdirSync(dirname(join(lab.root, KUBELET_CONFIG)), { recursive: true });
    writeFileSync(join(lab.root, KUBELET_CONFIG), original);
    // Test only: a syscall outside criscope.service's filter kills criscope here instead
    // of failing with EPERM, so that a missing allowance shows up as a failed test.
    mkdirSync(join(lab.root, '/etc/systemd/system/criscope.service.d'), { recursive: true });
    writeFileSync(join(lab.root, '/etc/systemd/system/criscope.service.d/test-kill-on-blocked-syscall.conf'), '[Service]\nSystemCallErrorNumber=kill\n');
  });

  after(() => lab?.down());

  it('installs with `criscope install`: the service answers through systemd\'s socket, then kubelet is moved onto it', () => {
    const install = lab.exec(NODE_BUILD, 'install');
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.match(install.stdout, /containerRuntimeEndpoint/);

    assert.equal(lab.systemctl('is-active', 'criscope.socket', 'criscope.service', 'kubelet.service'), 'active\nactive\nactive');
    assert.equal(lab.systemctl('is-enabled', 'criscope.socket', 'criscope.service'), 'enabled\nenabled');
    assert.deepEqual(kubeletEndpoints(lab), { runtime: CRISCOPE_ENDPOINT, image: CRISCOPE_ENDPOINT });
    // kubelet was restarted after the swap and found criscope's socket in place.
    const kubeletStarts = lab.journal('kubelet.service').split('\n').filter((line) => line.startsWith('kubelet-standin:'));
    assert.deepEqual(kubeletStarts, ['kubelet-standin: no criscope socket', 'kubelet-standin: criscope socket present']);
  });

  it('relays the node\'s CRI calls to its containerd, under the unit\'s hardening', async () => {
    const viaCriscope = new CriTestClient(lab.hostPath('/run/criscope/criscope.sock'));
    const direct = new CriTestClient(runtime.containerdSocket);
    try {
      assert.deepEqual(await viaCriscope.call('Version'), await direct.call('Version'));
      assert.deepEqual(imageIds(await viaCriscope.call('ListImages')), imageIds(await direct.call('ListImages')));
    } finally {
      viaCriscope.close();
      direct.close();
    }
    const pid = lab.systemctl('show', '-P', 'MainPID', 'criscope.service');
    const status = lab.exec('cat', `/proc/${pid}/status`).stdout;
    assert.match(status, /^Seccomp:\s+2$/m, 'the system call filter applies');
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^CapEff:\s+0+$/m, 'criscope runs with no capabilities');
    const metrics = lab.exec('/usr/bin/curl', '-sf', 'http://127.0.0.1:9810/metrics');
    assert.match(metrics.stdout, /criscope_build_info/);
    assert.equal(lab.systemctl('show', '-P', 'NRestarts', 'criscope.service'), '0', lab.journal('criscope.service'));
  });

  it('restarts (as an upgrade does) without failing one of kubelet\'s calls', async () => {
    const load = callContinuously(lab.hostPath('/run/criscope/criscope.sock'), 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const restart = lab.exec('systemctl', 'restart', 'criscope.service');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { calls, failures } = await load.stop();
    assert.equal(restart.status, 0, restart.stderr);
    assert.ok(calls > 20, `only ${calls} calls were made`);
    assert.deepEqual(failures, []);
  });

  it('a second install changes nothing', () => {
    const again = lab.exec('/usr/local/bin/criscope', 'install');
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.doesNotMatch(again.stdout, /→/);
    assert.deepEqual(kubeletEndpoints(lab), { runtime: CRISCOPE_ENDPOINT, image: CRISCOPE_ENDPOINT });
  });

  it('puts the previous criscope back when an upgrade\'s does not answer, so kubelet keeps a runtime', async () => {
    writeFileSync(join(lab.root, '/root/criscope-broken'), '#!/bin/sh\necho "a broken build" >&2\nexit 1\n', { mode: 0o755 });
    const upgrade = lab.exec('/usr/local/bin/criscope', 'install', '--binary', '/root/criscope-broken', '--wait-seconds', '5');
    assert.notEqual(upgrade.status, 0);
    assert.match(upgrade.stderr, /did not answer .* the previous \/usr\/local\/bin\/criscope is back, and that criscope answers/);
    assert.ok(readFileSync(join(lab.root, '/usr-local/bin/criscope')).equals(readFileSync(NODE_BUILD)));
    assert.deepEqual(kubeletEndpoints(lab), { runtime: CRISCOPE_ENDPOINT, image: CRISCOPE_ENDPOINT });
    const client = new CriTestClient(lab.hostPath('/run/criscope/criscope.sock'));
    try {
      assert.equal((await client.call('Version'))['runtime_name'], 'containerd');
    } finally {
      client.close();
    }

    // An installer retried with back-off must not take the runtime away again on every try.
    const criscopePid = lab.systemctl('show', '-P', 'MainPID', 'criscope.service');
    const retry = lab.exec('/usr/local/bin/criscope', 'install', '--binary', '/root/criscope-broken', '--wait-seconds', '5');
    assert.equal(retry.status, 1);
    assert.match(retry.stderr, /refused-upgrade\.json: these files were installed at .* and criscope did not answer/);
    assert.equal(lab.systemctl('show', '-P', 'MainPID', 'criscope.service'), criscopePid, 'criscope was not restarted');
  });

  it('uninstalls: kubelet\'s config is back byte for byte, and criscope is gone', () => {
    const uninstall = lab.exec('/usr/local/bin/criscope', 'uninstall');
    assert.equal(uninstall.status, 0, uninstall.stdout + uninstall.stderr);
    assert.equal(readFileSync(join(lab.root, KUBELET_CONFIG), 'utf8'), original);
    assert.equal(lab.systemctl('is-active', 'kubelet.service'), 'active');
    assert.notEqual(lab.exec('systemctl', 'is-active', 'criscope.service').status, 0);
    assert.notEqual(lab.exec('systemctl', 'is-active', 'criscope.socket').status, 0);
    assert.ok(!existsSync(lab.hostPath('/run/criscope/criscope.sock')), 'no socket left that kubelet could mistake for its runtime');
    assert.ok(!existsSync(join(lab.root, '/etc/systemd/system/criscope.service')));
    assert.ok(!existsSync(join(lab.root, '/usr-local/bin/criscope')));
  });
});
