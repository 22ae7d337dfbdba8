import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startTicksOf } from '../../src/install/install-lock.js';
import { readKubeletSettings } from '../../src/install/kubelet-settings.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { startCriscope } from '../support/criscope-process.js';
import { fakeExecutable, FakeNode, GNU_TIME, kubeletFixture, runCriscope, runCriscopeMeasured, type CliRun } from '../support/fake-node.js';
import { testRuntime } from '../support/runtime-env.js';

const CRISCOPE = 'unix:///run/criscope/criscope.sock';
const CRISCOPE_IMAGE = 'unix:///run/criscope/criscope-image.sock';
const BINARY = fakeExecutable();

function installOn(node: FakeNode, ...extra: string[]): Promise<CliRun> {
  return runCriscope(['install', '--root', node.root, '--binary', BINARY, ...extra]);
}

function uninstallOn(node: FakeNode, ...extra: string[]): Promise<CliRun> {
  return runCriscope(['uninstall', '--root', node.root, ...extra]);
}

function assertExit(run: CliRun, status: number): void {
  assert.equal(run.status, status, `exit ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
}

/** kubelet's endpoints as kubelet would take them from the node's files. */
function kubeletEndpoints(node: FakeNode, kubeletConfig?: string): { runtime: string; image: string } {
  const settings = readKubeletSettings(new NodeRoot(node.root, false), kubeletConfig);
  return { runtime: settings.runtime.endpoint, image: settings.image.endpoint };
}

/** A kubelet config as data, less the two fields install edits. */
function withoutEndpoints(config: unknown): Record<string, unknown> {
  const rest = { ...(config as Record<string, unknown>) };
  delete rest['containerRuntimeEndpoint'];
  delete rest['imageServiceEndpoint'];
  return rest;
}

interface NodeShape {
  readonly name: string;
  /** kubelet's files: node path → [text, mode]. */
  readonly files: Readonly<Record<string, readonly [string, number]>>;
  /** Given to the first install only: later runs find it in the install record. */
  readonly kubeletConfig?: string;
  /** The kubelet files install edits, and what in each. */
  readonly edited: Readonly<Record<string, readonly string[]>>;
  readonly previousRuntime: string;
  /** Set when kubelet's image endpoint was a socket of its own. */
  readonly previousImage?: string;
}

const SHAPES: readonly NodeShape[] = [
  {
    name: 'kubeadm 1.33: the config file sets containerRuntimeEndpoint',
    files: {
      '/var/lib/kubelet/config.yaml': [kubeletFixture('kubeadm-1.33-config.yaml'), 0o600],
      '/var/lib/kubelet/kubeadm-flags.env': [kubeletFixture('kubeadm-1.33-flags.env'), 0o644],
      '/etc/default/kubelet': ['KUBELET_EXTRA_ARGS=\n', 0o644],
    },
    edited: { '/var/lib/kubelet/config.yaml': ['containerRuntimeEndpoint', 'imageServiceEndpoint'] },
    previousRuntime: 'unix:///run/containerd/containerd.sock',
  },
  {
    name: 'kubeadm 1.30: containerRuntimeEndpoint "" and the flag in kubeadm-flags.env',
    files: {
      '/var/lib/kubelet/config.yaml': [kubeletFixture('kubeadm-1.30-config.yaml'), 0o644],
      '/var/lib/kubelet/kubeadm-flags.env': [kubeletFixture('kubeadm-1.30-flags.env'), 0o644],
    },
    edited: { '/var/lib/kubelet/kubeadm-flags.env': ['--container-runtime-endpoint'], '/var/lib/kubelet/config.yaml': ['imageServiceEndpoint'] },
    previousRuntime: 'unix:///var/run/containerd/containerd.sock',
  },
  {
    name: 'kubeadm 1.25: no endpoint fields, the flag in kubeadm-flags.env',
    files: {
      '/var/lib/kubelet/config.yaml': [kubeletFixture('kubeadm-1.25-config.yaml'), 0o644],
      '/var/lib/kubelet/kubeadm-flags.env': [kubeletFixture('kubeadm-1.25-flags.env'), 0o600],
    },
    edited: { '/var/lib/kubelet/kubeadm-flags.env': ['--container-runtime-endpoint'], '/var/lib/kubelet/config.yaml': ['imageServiceEndpoint'] },
    previousRuntime: 'unix:///var/run/containerd/containerd.sock',
  },
  {
    name: 'both fields set, the image service on a socket of its own',
    files: { '/var/lib/kubelet/config.yaml': [kubeletFixture('split-image-config.yaml'), 0o644] },
    edited: { '/var/lib/kubelet/config.yaml': ['containerRuntimeEndpoint', 'imageServiceEndpoint'] },
    previousRuntime: 'unix:///run/containerd/containerd.sock',
    previousImage: 'unix:///run/image-service/image.sock',
  },
  {
    name: 'a JSON config given with --kubelet-config',
    files: { '/etc/kubernetes/kubelet.json': [kubeletFixture('config.json'), 0o640] },
    kubeletConfig: '/etc/kubernetes/kubelet.json',
    edited: { '/etc/kubernetes/kubelet.json': ['containerRuntimeEndpoint', 'imageServiceEndpoint'] },
    previousRuntime: 'unix:///run/containerd/containerd.sock',
  },
  {
    name: "kubeadm's drop-in names the config; /etc/default/kubelet's KUBELET_EXTRA_ARGS overrides kubeadm-flags.env",
    files: {
      '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': [kubeletFixture('10-kubeadm.conf'), 0o644],
      '/etc/kubernetes/kubelet/config.yaml': [kubeletFixture('kubeadm-1.30-config.yaml'), 0o644],
      '/var/lib/kubelet/kubeadm-flags.env': [kubeletFixture('kubeadm-1.30-flags.env'), 0o644],
      '/etc/default/kubelet': [kubeletFixture('default-kubelet'), 0o644],
    },
    edited: {
      '/var/lib/kubelet/kubeadm-flags.env': ['--container-runtime-endpoint'],
      '/etc/default/kubelet': ['--container-runtime-endpoint'],
      '/etc/kubernetes/kubelet/config.yaml': ['imageServiceEndpoint'],
    },
    previousRuntime: 'unix:///run/crio/crio.sock',
  },
];

function nodeOf(shape: NodeShape): FakeNode {
  const node = new FakeNode();
  for (const [path, [text, mode]] of Object.entries(shape.files)) node.put(path, text, mode);
  return node;
}

describe('criscope install and uninstall on fake node roots (--systemd none)', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: install moves kubelet, a second install changes nothing, uninstall restores every byte`, async () => {
      const node = nodeOf(shape);
      const before = node.snapshot();
      const originals = new Map(Object.keys(shape.files).map((path) => [path, node.read(path)]));

      const installed = await installOn(node, ...(shape.kubeletConfig === undefined ? [] : ['--kubelet-config', shape.kubeletConfig]));
      assertExit(installed, 0);

      // kubelet now reaches the runtime through criscope.
      assert.deepEqual(kubeletEndpoints(node, shape.kubeletConfig), { runtime: CRISCOPE, image: shape.previousImage === undefined ? CRISCOPE : CRISCOPE_IMAGE });
      for (const [path, original] of originals) {
        const edits = shape.edited[path];
        if (edits === undefined) {
          assert.equal(node.read(path), original, `${path} is not touched`);
          assert.equal(existsSync(node.path(`${path}.criscope-backup`)), false);
          continue;
        }
        assert.equal(node.read(`${path}.criscope-backup`), original, `the backup of ${path} is the original`);
        assert.equal(node.mode(path), shape.files[path]?.[1], `${path} keeps its mode`);
        for (const key of edits) assert.match(installed.stdout, new RegExp(`^${path}: (KUBELET_\\w+ )?${key}: .+ → unix:///run/criscope/criscope(-image)?\\.sock`, 'm'));
        if (path.endsWith('.yaml') || path.endsWith('.json')) {
          // Everything in the file but the two endpoint fields reads as it did.
          assert.deepEqual(withoutEndpoints(parseYaml(node.read(path))), withoutEndpoints(parseYaml(original)));
        } else {
          const flagValue = /--container-runtime-endpoint[= ](\S+)/.exec(original)?.[1] ?? '';
          assert.equal(node.read(path).replace(CRISCOPE, flagValue), original, `${path}: only the flag's value changed`);
        }
      }

      // criscope's own files, with the modes an operator expects.
      assert.equal(readFileSync(node.path('/usr/local/bin/criscope'), 'utf8'), readFileSync(BINARY, 'utf8'));
      assert.equal(node.mode('/usr/local/bin/criscope'), 0o755);
      for (const unit of ['/etc/systemd/system/criscope.service', '/etc/systemd/system/criscope.socket', '/etc/systemd/system/kubelet.service.d/90-criscope.conf']) {
        assert.equal(node.mode(unit), 0o644, unit);
      }
      // These may come to hold a collector's credentials (OTLP headers).
      for (const secretive of ['/etc/default/criscope', '/etc/criscope/criscope.yaml', '/var/lib/criscope/install.json']) assert.equal(node.mode(secretive), 0o600, secretive);
      // criscope relays to what kubelet used, and its config is one criscope serve accepts.
      const config = loadConfig(node.path('/etc/criscope/criscope.yaml'));
      assert.equal(config.runtimeEndpoint, shape.previousRuntime);
      assert.equal(config.imageEndpoint, shape.previousImage);
      assert.equal(config.listen, CRISCOPE);
      assert.match(installed.stdout, /^run these on the node, in this order:\n {2}systemctl daemon-reload\n {2}systemctl enable criscope.socket criscope.service\n {2}systemctl restart criscope.service\n(?: {2}crictl .*\n)+ {2}systemctl restart kubelet$/m);
      // Each socket kubelet is pointed at is one to check: the image one too, when kubelet's images go there.
      assert.equal(/^ {2}crictl --image-endpoint unix:\/\/\/run\/criscope\/criscope-image.sock imagefsinfo/m.test(installed.stdout), shape.previousImage !== undefined);

      // Again: nothing to do, not a byte changed.
      const afterInstall = node.snapshot();
      const again = await installOn(node);
      assertExit(again, 0);
      assert.deepEqual(node.snapshot(), afterInstall);
      assert.match(again.stdout, /^\/etc\/systemd\/system\/criscope.service: unchanged$/m);
      assert.match(again.stdout, /^kubelet: unchanged/m);
      assert.match(again.stdout, /^nothing changed$/m);

      // Uninstall: kubelet's files byte for byte as they were; criscope's config, env file and the backups kept.
      const removed = await uninstallOn(node);
      assertExit(removed, 0);
      for (const [path, original] of originals) assert.equal(node.read(path), original, `${path} restored`);
      assert.equal(kubeletEndpoints(node, shape.kubeletConfig).runtime, shape.previousRuntime);
      for (const gone of ['/usr/local/bin/criscope', '/etc/systemd/system/criscope.service', '/etc/systemd/system/criscope.socket', '/etc/systemd/system/kubelet.service.d/90-criscope.conf', '/var/lib/criscope/install.json']) {
        assert.equal(existsSync(node.path(gone)), false, `${gone} removed`);
      }
      for (const kept of ['/etc/criscope/criscope.yaml', '/etc/default/criscope', ...Object.keys(shape.edited).map((path) => `${path}.criscope-backup`)]) {
        assert.match(removed.stdout, new RegExp(`^${kept}: kept$`, 'm'));
      }
      const afterUninstall = node.snapshot();
      for (const [path, bytesAndMode] of before) if (!path.endsWith('/')) assert.equal(afterUninstall.get(path), bytesAndMode, `${path}: same bytes and mode as before install`);

      // And again: nothing to undo.
      const twice = await uninstallOn(node);
      assertExit(twice, 0);
      assert.match(twice.stdout, /^nothing to undo$/m);
      assert.deepEqual(node.snapshot(), afterUninstall);
    });
  }
});

describe('criscope install refuses, and writes nothing', () => {
  it('a kubelet config it cannot parse: exit 1, the message names the file', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\nclusterDNS: [10.96.0.10\n').put('/var/lib/kubelet/kubeadm-flags.env', kubeletFixture('kubeadm-1.30-flags.env'));
    const before = node.snapshot();
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /^criscope: \/var\/lib\/kubelet\/config.yaml: not valid YAML/);
    assert.deepEqual(node.snapshot(), before);
  });

  it('a flag file with an unbalanced quote: exit 1, the message names the file and line', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.30-config.yaml')).put('/etc/default/kubelet', '# overrides\nKUBELET_EXTRA_ARGS="--v=2\n');
    const before = node.snapshot();
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /\/etc\/default\/kubelet: unbalanced " quote in KUBELET_EXTRA_ARGS on line 2/);
    assert.deepEqual(node.snapshot(), before);
  });

  it('kubelet already on criscope with no install record: the runtime behind it is unknown', async () => {
    const config = kubeletFixture('kubeadm-1.33-config.yaml').replace('unix:///run/containerd/containerd.sock', CRISCOPE);
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', config);
    const before = node.snapshot();
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /\/var\/lib\/criscope\/install.json: no install record, yet kubelet already uses criscope \(containerRuntimeEndpoint in \/var\/lib\/kubelet\/config.yaml\)/);
    assert.deepEqual(node.snapshot(), before);
  });

  it('no --binary, run from the TypeScript build: nothing that could run on the node', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    const before = node.snapshot();
    const run = await runCriscope(['install', '--root', node.root]);
    assertExit(run, 1);
    assert.match(run.stderr, /\/usr\/local\/bin\/criscope: nothing to install: this criscope is the TypeScript build.*--binary FILE/);
    assert.deepEqual(node.snapshot(), before);
  });

  it('--dry-run prints the plan and writes nothing, for install and for uninstall', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.30-config.yaml')).put('/var/lib/kubelet/kubeadm-flags.env', kubeletFixture('kubeadm-1.30-flags.env'));
    const before = node.snapshot();
    const dry = await installOn(node, '--dry-run');
    assertExit(dry, 0);
    assert.deepEqual(node.snapshot(), before);
    assert.match(dry.stdout, /^\[dry run\] \/var\/lib\/kubelet\/kubeadm-flags.env: KUBELET_KUBEADM_ARGS --container-runtime-endpoint: unix:\/\/\/var\/run\/containerd\/containerd.sock → unix:\/\/\/run\/criscope\/criscope.sock$/m);
    assert.match(dry.stdout, /^\[dry run\] \/etc\/criscope\/criscope.yaml: written, mode 0600 \(runtimeEndpoint: unix:\/\/\/var\/run\/containerd\/containerd.sock\)$/m);

    assertExit(await installOn(node), 0);
    const installed = node.snapshot();
    const dryUninstall = await uninstallOn(node, '--dry-run');
    assertExit(dryUninstall, 0);
    assert.deepEqual(node.snapshot(), installed);
    assert.match(dryUninstall.stdout, /^\[dry run\] \/var\/lib\/kubelet\/kubeadm-flags.env: KUBELET_KUBEADM_ARGS --container-runtime-endpoint: unix:\/\/\/run\/criscope\/criscope.sock → unix:\/\/\/var\/run\/containerd\/containerd.sock$/m);
    assert.match(dryUninstall.stdout, /^\[dry run\] \/usr\/local\/bin\/criscope: removed$/m);
  });
});

describe('criscope install after kubelet was moved, and uninstall after hand edits', () => {
  it('kubeadm upgrade rewrote the config: install swaps again and records the new previous values; uninstall restores the rewritten file', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    assertExit(await installOn(node), 0);
    // What `kubeadm upgrade` leaves: its own config again, here naming the runtime the other way.
    const rewritten = kubeletFixture('kubeadm-1.33-config.yaml').replace('containerRuntimeEndpoint: unix:///run/containerd/containerd.sock', 'containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock');
    node.put('/var/lib/kubelet/config.yaml', rewritten, 0o644);

    const again = await installOn(node);
    assertExit(again, 0);
    assert.match(again.stdout, /^\/var\/lib\/kubelet\/config.yaml: containerRuntimeEndpoint is no longer what install wrote \(changed since\); dropped from the record$/m);
    assert.match(again.stdout, /^\/var\/lib\/kubelet\/config.yaml: containerRuntimeEndpoint: unix:\/\/\/var\/run\/containerd\/containerd.sock → unix:\/\/\/run\/criscope\/criscope.sock$/m);
    assert.equal(kubeletEndpoints(node).runtime, CRISCOPE);
    assert.equal(node.read('/var/lib/kubelet/config.yaml.criscope-backup'), rewritten);
    const state = JSON.parse(node.read('/var/lib/criscope/install.json')) as { previousEndpoints: { runtime: string }; edits: { key: string }[] };
    assert.equal(state.previousEndpoints.runtime, 'unix:///var/run/containerd/containerd.sock');
    assert.deepEqual(state.edits.map((edit) => edit.key).sort(), ['containerRuntimeEndpoint', 'imageServiceEndpoint']);

    assertExit(await uninstallOn(node), 0);
    assert.equal(node.read('/var/lib/kubelet/config.yaml'), rewritten);
  });

  it('a field someone changed since install is left as it is, with a warning naming file and key', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    assertExit(await installOn(node), 0);
    node.put('/var/lib/kubelet/config.yaml', node.read('/var/lib/kubelet/config.yaml').replace(`containerRuntimeEndpoint: ${CRISCOPE}`, 'containerRuntimeEndpoint: unix:///run/crio/crio.sock'));
    const run = await uninstallOn(node);
    assertExit(run, 0);
    assert.match(run.stdout, /^warning: \/var\/lib\/kubelet\/config.yaml: containerRuntimeEndpoint was changed since install \(it is no longer unix:\/\/\/run\/criscope\/criscope.sock\); left as it is$/m);
    assert.match(run.stdout, /^\/var\/lib\/kubelet\/config.yaml: imageServiceEndpoint: unix:\/\/\/run\/criscope\/criscope.sock → \(absent\) \(removed\)$/m);
    assert.equal(node.read('/var/lib/kubelet/config.yaml'), kubeletFixture('kubeadm-1.33-config.yaml').replace('unix:///run/containerd/containerd.sock', 'unix:///run/crio/crio.sock'));
  });

  it('an install record it cannot read is refused, not guessed at', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    assertExit(await installOn(node), 0);
    for (const [record, reason] of [['{"version": 1', /not valid JSON/], ['{}', /not an install record criscope can read: version/]] as const) {
      node.put('/var/lib/criscope/install.json', record, 0o600);
      const before = node.snapshot();
      const run = await uninstallOn(node);
      assertExit(run, 1);
      assert.match(run.stderr, /^criscope: \/var\/lib\/criscope\/install.json: /);
      assert.match(run.stderr, reason);
      assert.deepEqual(node.snapshot(), before);
    }
  });

  it('uninstall with the record gone and kubelet on criscope refuses and names the backup', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    assertExit(await installOn(node), 0);
    new NodeRoot(node.root, false).remove('/var/lib/criscope/install.json');
    const before = node.snapshot();
    const run = await uninstallOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /no install record, and kubelet uses criscope \(containerRuntimeEndpoint in \/var\/lib\/kubelet\/config.yaml\); the files as they were before install are in \/var\/lib\/kubelet\/config.yaml.criscope-backup/);
    assert.deepEqual(node.snapshot(), before);
  });
});

/**
 * systemd is not PID 1 on the test machine, so a stub `systemctl` (and `nsenter`) first on
 * PATH stands in for it: it records each call's arguments, and whether kubelet's config
 * named criscope's socket at that moment, so the tests can check the order of the steps.
 */
function systemdStubs(watchedFile: string): { env: Record<string, string>; calls(): string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'criscope-systemd-stub-'));
  const log = join(dir, 'calls.log');
  // STUB_FAIL: the one command (systemctl's arguments) that fails, as systemctl does when a unit does not start.
  const record = `if grep -q criscope.sock "$STUB_WATCH" 2>/dev/null; then kubelet=criscope; else kubelet=runtime; fi\necho "$(basename "$0") $* [kubelet on $kubelet]" >> "$STUB_LOG"\nif [ -n "$STUB_FAIL" ] && [ "$*" = "$STUB_FAIL" ]; then echo "Job for kubelet.service failed" >&2; exit 1; fi\n`;
  for (const name of ['systemctl', 'nsenter']) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${record}`);
    chmodSync(join(dir, name), 0o755);
  }
  return {
    env: { PATH: `${dir}:${process.env['PATH'] ?? ''}`, STUB_LOG: log, STUB_WATCH: watchedFile },
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
  };
}

describe('criscope install and uninstall with systemd (stub systemctl, real criscope in front of the test containerd)', () => {
  it('host: reload, enable, restart criscope, wait until it answers, then edit kubelet and restart it; uninstall restores kubelet before it stops criscope', async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    const original = node.read('/var/lib/kubelet/config.yaml');
    const stubs = systemdStubs(node.path('/var/lib/kubelet/config.yaml'));
    // criscope as systemd would run it, on the socket install waits for.
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      const run = await runCriscope(['install', '--root', node.root, '--binary', BINARY, '--systemd', 'host', '--wait-seconds', '10'], stubs.env);
      assertExit(run, 0);
      assert.deepEqual(stubs.calls(), [
        'systemctl daemon-reload [kubelet on runtime]',
        'systemctl enable criscope.socket criscope.service [kubelet on runtime]',
        'systemctl restart criscope.service [kubelet on runtime]',
        'systemctl restart kubelet [kubelet on criscope]',
      ]);
      assert.match(run.stdout, /^\/run\/criscope\/criscope.sock: criscope answers \(containerd .+ behind it\)$/m);
      // The answer came before kubelet's config was edited, and that before kubelet's restart.
      const lines = run.stdout.split('\n');
      const answered = lines.findIndex((line) => line.includes('criscope answers'));
      const edited = lines.findIndex((line) => line.startsWith('/var/lib/kubelet/config.yaml: containerRuntimeEndpoint:'));
      const restarted = lines.indexOf('ran: systemctl restart kubelet');
      assert.ok(answered < edited && edited < restarted, run.stdout);

      const again = await runCriscope(['install', '--root', node.root, '--binary', BINARY, '--systemd', 'host', '--wait-seconds', '10'], stubs.env);
      assertExit(again, 0);
      // Nothing changed: criscope is only started if it is not running, and kubelet is left alone.
      assert.deepEqual(stubs.calls().slice(4), ['systemctl daemon-reload [kubelet on criscope]', 'systemctl enable criscope.socket criscope.service [kubelet on criscope]', 'systemctl start criscope.service [kubelet on criscope]']);

      const removed = await runCriscope(['uninstall', '--root', node.root, '--systemd', 'host'], stubs.env);
      assertExit(removed, 0);
      assert.deepEqual(stubs.calls().slice(7), [
        'systemctl restart kubelet [kubelet on runtime]',
        'systemctl disable --now criscope.service criscope.socket [kubelet on runtime]',
        'systemctl daemon-reload [kubelet on runtime]',
      ]);
      assert.equal(node.read('/var/lib/kubelet/config.yaml'), original);
    } finally {
      await criscope.stop();
    }
  });

  it('nsenter: every systemctl runs in PID 1 namespaces', async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    const stubs = systemdStubs(node.path('/var/lib/kubelet/config.yaml'));
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      assertExit(await runCriscope(['install', '--root', node.root, '--binary', BINARY, '--systemd', 'nsenter', '--wait-seconds', '10'], stubs.env), 0);
      assert.deepEqual(stubs.calls(), [
        'nsenter -t 1 -m -u -i -n -p -- systemctl daemon-reload [kubelet on runtime]',
        'nsenter -t 1 -m -u -i -n -p -- systemctl enable criscope.socket criscope.service [kubelet on runtime]',
        'nsenter -t 1 -m -u -i -n -p -- systemctl restart criscope.service [kubelet on runtime]',
        'nsenter -t 1 -m -u -i -n -p -- systemctl restart kubelet [kubelet on criscope]',
      ]);
    } finally {
      await criscope.stop();
    }
  });

  it('nothing answers on the socket: install fails naming it, and kubelet is left untouched', async () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'), 0o600);
    const original = node.read('/var/lib/kubelet/config.yaml');
    const stubs = systemdStubs(node.path('/var/lib/kubelet/config.yaml'));
    const run = await runCriscope(['install', '--root', node.root, '--binary', BINARY, '--systemd', 'host', '--wait-seconds', '1'], stubs.env);
    assertExit(run, 1);
    assert.match(run.stderr, /^criscope: \/run\/criscope\/criscope.sock: criscope did not answer a CRI Version call within 1 s .*kubelet was left on unix:\/\/\/run\/containerd\/containerd.sock/);
    assert.equal(node.read('/var/lib/kubelet/config.yaml'), original);
    assert.equal(existsSync(node.path('/var/lib/kubelet/config.yaml.criscope-backup')), false);
    assert.equal(existsSync(node.path('/var/lib/criscope/install.json')), false);
    assert.ok(!stubs.calls().some((call) => call.includes('kubelet [')), stubs.calls().join('\n'));
    // Nothing to go back to: left enabled, systemd would restart it every second, for ever.
    assert.match(run.stderr, /there was no criscope before this install, so criscope.service and criscope.socket were stopped and disabled/);
    assert.equal(stubs.calls().at(-1), 'systemctl disable --now criscope.service criscope.socket [kubelet on runtime]');

    // What the failed install left (criscope's files and units, no record) uninstall takes away; kubelet stays as it was.
    const cleanup = await runCriscope(['uninstall', '--root', node.root, '--systemd', 'host'], stubs.env);
    assertExit(cleanup, 0);
    assert.deepEqual(stubs.calls().slice(-2), ['systemctl disable --now criscope.service criscope.socket [kubelet on runtime]', 'systemctl daemon-reload [kubelet on runtime]']);
    assert.equal(existsSync(node.path('/etc/systemd/system/criscope.service')), false);
    assert.equal(node.read('/var/lib/kubelet/config.yaml'), original);
  });
});

const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
const RECORD = '/var/lib/criscope/install.json';
const LOCK = '/var/lib/criscope/install.lock';

interface RecordSeen {
  readonly kubeletRestartPending?: boolean;
}

function recordOf(node: FakeNode): RecordSeen {
  return JSON.parse(node.read(RECORD)) as RecordSeen;
}

function hostInstall(node: FakeNode, env: Record<string, string>, ...extra: string[]): Promise<CliRun> {
  return runCriscope(['install', '--root', node.root, '--binary', BINARY, '--systemd', 'host', '--wait-seconds', '10', ...extra], env);
}

/** A file of the test's own (not under the node's root), as --env-file and --binary take them. */
function ownFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-own-')), name);
  writeFileSync(path, content);
  return path;
}

describe("criscope install refuses a kept config that disagrees with where kubelet is pointed, and writes nothing", () => {
  it("kubelet's image service moved to a socket of its own since install, and the kept config has no imageEndpoint", async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'), 0o600);
    assertExit(await installOn(node), 0);
    const stargz = 'unix:///run/containerd-stargz-grpc/containerd-stargz-grpc.sock';
    node.put(KUBELET_CONFIG, node.read(KUBELET_CONFIG).replace(`imageServiceEndpoint: ${CRISCOPE}`, `imageServiceEndpoint: ${stargz}`), 0o600);
    const before = node.snapshot();

    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(
      run.stderr,
      /^criscope: \/etc\/criscope\/criscope.yaml: imageEndpoint is \(absent\), but kubelet's image endpoint is unix:\/\/\/run\/containerd-stargz-grpc\/containerd-stargz-grpc.sock \(imageServiceEndpoint in \/var\/lib\/kubelet\/config.yaml\), a socket of its own, and install points kubelet's image endpoint at unix:\/\/\/run\/criscope\/criscope-image.sock.*; make it unix:\/\/\/run\/containerd-stargz-grpc\/containerd-stargz-grpc.sock there \(install keeps this file once written\)/,
    );
    assert.deepEqual(node.snapshot(), before);
    assert.equal(kubeletEndpoints(node).image, stargz, 'kubelet is not pointed at a socket nobody serves');

    // Once the config says so, install moves kubelet's images through criscope.
    node.put('/etc/criscope/criscope.yaml', `${node.read('/etc/criscope/criscope.yaml')}imageEndpoint: ${stargz}\n`, 0o600);
    assertExit(await installOn(node), 0);
    assert.deepEqual(kubeletEndpoints(node), { runtime: CRISCOPE, image: CRISCOPE_IMAGE });
  });

  it("a kept config that relays to another runtime than kubelet's", async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml')).put('/etc/criscope/criscope.yaml', 'runtimeEndpoint: unix:///run/crio/crio.sock\n', 0o600);
    const before = node.snapshot();
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(
      run.stderr,
      /^criscope: \/etc\/criscope\/criscope.yaml: runtimeEndpoint is unix:\/\/\/run\/crio\/crio.sock, but kubelet's runtime is unix:\/\/\/run\/containerd\/containerd.sock \(containerRuntimeEndpoint in \/var\/lib\/kubelet\/config.yaml\)/,
    );
    assert.deepEqual(node.snapshot(), before);
  });

  it("a flag in the CRISCOPE_OPTS of --env-file counts too, named by that file", async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const envFile = ownFile('criscope.env', 'CRISCOPE_OPTS="--http-listen 0.0.0.0:9810 --runtime-endpoint unix:///run/crio/crio.sock"\n');
    const before = node.snapshot();
    const run = await installOn(node, '--env-file', envFile);
    assertExit(run, 1);
    assert.match(run.stderr, new RegExp(`^criscope: ${envFile}: --runtime-endpoint in CRISCOPE_OPTS is unix:///run/crio/crio.sock, but kubelet's runtime is unix:///run/containerd/containerd.sock`));
    assert.deepEqual(node.snapshot(), before);
  });
});

describe('criscope install and the operator\'s criscope.service drop-ins (systemctl edit criscope)', () => {
  const cases = [
    { name: 'ExecStart= with its own flags', dropIn: '[Service]\nExecStart=\nExecStart=/usr/local/bin/criscope serve --runtime-endpoint unix:///run/crio/crio.sock\n', refused: /line 2: ExecStart= sets criscope's command line/ },
    { name: 'Environment= setting CRISCOPE_OPTS', dropIn: '[Service]\nEnvironment="CRISCOPE_OPTS=--runtime-endpoint unix:///run/crio/crio.sock"\n', refused: /line 2: Environment= sets CRISCOPE_OPTS/ },
    { name: 'another EnvironmentFile= that sets CRISCOPE_OPTS', dropIn: '[Service]\nEnvironmentFile=-/etc/criscope/more.env\n', extra: ['/etc/criscope/more.env', 'CRISCOPE_OPTS="--runtime-endpoint unix:///run/crio/crio.sock"\n'], refused: /line 2: EnvironmentFile= sets CRISCOPE_OPTS/ },
  ];
  for (const { name, dropIn, extra, refused } of cases) {
    it(`${name}: refused, naming the drop-in and line, since install cannot check where that criscope relays; nothing written`, async () => {
      const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml')).put('/etc/systemd/system/criscope.service.d/override.conf', dropIn);
      if (extra !== undefined) node.put(extra[0], extra[1]);
      const before = node.snapshot();
      const run = await installOn(node);
      assertExit(run, 1);
      assert.match(run.stderr, /^criscope: \/etc\/systemd\/system\/criscope\.service\.d\/override\.conf: /);
      assert.match(run.stderr, refused);
      assert.deepEqual(node.snapshot(), before);
    });
  }

  it('a drop-in with settings that do not decide where criscope relays is fine', async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml')).put('/etc/systemd/system/criscope.service.d/override.conf', '[Service]\nEnvironment=NODE_NAME=worker-1\nMemoryMax=512M\n');
    assertExit(await installOn(node), 0);
  });
});

describe('criscope install --env-file: /etc/default/criscope is install\'s to keep as given', () => {
  it('replaces the node\'s (mode 0600) as a change of criscope\'s, so criscope restarts; the same file again changes nothing; without the flag the node\'s is kept', async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    assertExit(await installOn(node), 0);
    const envText = '# rendered for worker-1\nNODE_NAME=worker-1\nCRISCOPE_OPTS="--http-listen 0.0.0.0:9810"\n';
    const envFile = ownFile('criscope.env', envText);

    const given = await installOn(node, '--env-file', envFile);
    assertExit(given, 0);
    assert.equal(node.read('/etc/default/criscope'), envText);
    assert.equal(node.mode('/etc/default/criscope'), 0o600);
    assert.match(given.stdout, new RegExp(`^/etc/default/criscope: replaced, mode 0600 \\(from ${envFile} \\(--env-file\\)\\)$`, 'm'));
    assert.match(given.stdout, /^ {2}systemctl restart criscope.service$/m);

    const same = await installOn(node, '--env-file', envFile);
    assertExit(same, 0);
    assert.match(same.stdout, /^\/etc\/default\/criscope: unchanged$/m);
    assert.match(same.stdout, /^nothing changed$/m);

    const without = await installOn(node);
    assertExit(without, 0);
    assert.match(without.stdout, /^\/etc\/default\/criscope: kept \(exists\)$/m);
    assert.equal(node.read('/etc/default/criscope'), envText);
  });

  it('an env file systemd would misread is refused before anything is written, naming it and the line', async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const envFile = ownFile('criscope.env', 'NODE_NAME=worker-1\nCRISCOPE_OPTS="--http-listen 0.0.0.0:9810\n');
    const before = node.snapshot();
    const run = await installOn(node, '--env-file', envFile);
    assertExit(run, 1);
    assert.match(run.stderr, new RegExp(`^criscope: ${envFile}: unbalanced " quote in CRISCOPE_OPTS on line 2`));
    assert.deepEqual(node.snapshot(), before);
  });

  it('uninstall takes no --env-file', async () => {
    const run = await runCriscope(['uninstall', '--root', new FakeNode().root, '--env-file', ownFile('criscope.env', '')]);
    assertExit(run, 2);
    assert.match(run.stderr, /--env-file is for install only/);
  });
});

describe('one install or uninstall at a time on a node (/var/lib/criscope/install.lock)', () => {
  const holder = (pid: number, startTicks: string | null, pidNamespace = readlinkSync('/proc/self/ns/pid')): string =>
    JSON.stringify({ pid, pidNamespace, startTicks, hostname: 'node-a', command: 'uninstall', since: '2025-01-01T00:00:00.000Z' });

  it('a lock whose holder runs is refused, naming it, by install and by uninstall; nothing is written', async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    node.put(LOCK, holder(process.pid, startTicksOf(process.pid)), 0o600);
    const before = node.snapshot();
    for (const run of [await installOn(node), await uninstallOn(node)]) {
      assertExit(run, 1);
      assert.match(run.stderr, new RegExp(`^criscope: /var/lib/criscope/install.lock: held by criscope uninstall \\(PID ${process.pid} on node-a, since 2025-01-01T00:00:00.000Z\\); wait until it is done, then run (install|uninstall) again`));
      assert.deepEqual(node.snapshot(), before);
    }
  });

  it('one from another PID namespace cannot be checked: refused, saying what to do when that run is gone', async () => {
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml')).put(LOCK, holder(1, '1', 'pid:[1]'), 0o600);
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /held by criscope uninstall \(PID 1 on node-a, .*\), in another PID namespace, .* remove \/var\/lib\/criscope\/install.lock and run install again/);
  });

  it('a lock whose holder is gone (or whose PID is another process by now) is taken over; no run leaves one behind', async () => {
    const gone = spawnSync('true').pid;
    for (const stale of [holder(gone, '1'), holder(process.pid, 'not this process\'s start')]) {
      const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml')).put(LOCK, stale, 0o600);
      const run = await installOn(node);
      assertExit(run, 0);
      assert.match(run.stdout, /^\/var\/lib\/criscope\/install.lock: taken over from criscope uninstall \(PID \d+ on node-a, since 2025-01-01T00:00:00.000Z\), which no longer runs$/m);
      assert.equal(existsSync(node.path(LOCK)), false);
      assertExit(await uninstallOn(node), 0);
      assert.equal(existsSync(node.path(LOCK)), false);
    }
  });
});

describe('criscope install and uninstall when a step fails (stub systemctl, real criscope in front of the test containerd)', () => {
  it("kubelet's image endpoint split: a criscope that serves only the runtime socket is not enough; kubelet stays, and this first install's criscope is stopped and disabled", async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('split-image-config.yaml'));
    const original = node.read(KUBELET_CONFIG);
    const stubs = systemdStubs(node.path(KUBELET_CONFIG));
    const socketPath = node.path('/run/criscope/criscope.sock');
    const runtimeOnly = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath, logLevel: 'info' });
    try {
      const run = await hostInstall(node, stubs.env, '--wait-seconds', '2');
      assertExit(run, 1);
      assert.match(run.stderr, /^criscope: \/run\/criscope\/criscope-image.sock: criscope did not answer an ImageFsInfo call within 2 s /);
      assert.match(run.stderr, /kubelet was left on unix:\/\/\/run\/containerd\/containerd.sock; there was no criscope before this install, so criscope.service and criscope.socket were stopped and disabled/);
      assert.equal(node.read(KUBELET_CONFIG), original);
      assert.deepEqual(stubs.calls(), [
        'systemctl daemon-reload [kubelet on runtime]',
        'systemctl enable criscope.socket criscope.service [kubelet on runtime]',
        'systemctl restart criscope.service [kubelet on runtime]',
        'systemctl disable --now criscope.service criscope.socket [kubelet on runtime]',
      ]);
    } finally {
      await runtimeOnly.stop();
    }
    const both = await startCriscope({ runtimeSocket: runtime.containerdSocket, imageSocket: runtime.containerdSocket, socketPath, logLevel: 'info' });
    try {
      const run = await hostInstall(node, stubs.env);
      assertExit(run, 0);
      assert.match(run.stdout, /^\/run\/criscope\/criscope-image.sock: criscope answers \(the image service behind it reports \d+ image file systems?\)$/m);
      assert.deepEqual(kubeletEndpoints(node), { runtime: CRISCOPE, image: CRISCOPE_IMAGE });
    } finally {
      await both.stop();
    }
  });

  it("install whose kubelet restart fails keeps it on the record; the next install restarts kubelet though no file changes", async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const stubs = systemdStubs(node.path(KUBELET_CONFIG));
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      const failed = await hostInstall(node, { ...stubs.env, STUB_FAIL: 'restart kubelet' });
      assertExit(failed, 1);
      assert.match(failed.stderr, /systemctl restart kubelet failed/);
      assert.doesNotMatch(failed.stdout, /kubelet uses criscope/);
      assert.equal(recordOf(node).kubeletRestartPending, true);

      const again = await hostInstall(node, stubs.env);
      assertExit(again, 0);
      assert.match(again.stdout, /^kubelet: its files name criscope already, but the restart an earlier run began was not seen through/m);
      assert.deepEqual(stubs.calls().slice(4), [
        'systemctl daemon-reload [kubelet on criscope]',
        'systemctl enable criscope.socket criscope.service [kubelet on criscope]',
        'systemctl start criscope.service [kubelet on criscope]',
        'systemctl restart kubelet [kubelet on criscope]',
      ]);
      assert.equal(recordOf(node).kubeletRestartPending, undefined);

      // Seen through now: the next install leaves kubelet alone.
      assertExit(await hostInstall(node, stubs.env), 0);
      assert.ok(!stubs.calls().slice(8).some((call) => call.startsWith('systemctl restart kubelet')), stubs.calls().join('\n'));
    } finally {
      await criscope.stop();
    }
  });

  it('uninstall whose kubelet restart failed restarts kubelet when run again, before it stops criscope', async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const original = node.read(KUBELET_CONFIG);
    const stubs = systemdStubs(node.path(KUBELET_CONFIG));
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      assertExit(await hostInstall(node, stubs.env), 0);
      const failed = await runCriscope(['uninstall', '--root', node.root, '--systemd', 'host'], { ...stubs.env, STUB_FAIL: 'restart kubelet' });
      assertExit(failed, 1);
      assert.equal(node.read(KUBELET_CONFIG), original, "kubelet's files are back already");
      const calls = stubs.calls().length;

      const retry = await runCriscope(['uninstall', '--root', node.root, '--systemd', 'host'], stubs.env);
      assertExit(retry, 0);
      assert.deepEqual(stubs.calls().slice(calls), [
        'systemctl restart kubelet [kubelet on runtime]',
        'systemctl disable --now criscope.service criscope.socket [kubelet on runtime]',
        'systemctl daemon-reload [kubelet on runtime]',
      ]);
    } finally {
      await criscope.stop();
    }
  });

  it('an upgrade whose criscope answers: the executable (same size, other bytes) is replaced, and no previous copy is left', async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const stubs = systemdStubs(node.path(KUBELET_CONFIG));
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      assertExit(await hostInstall(node, stubs.env), 0);
      const newer = ownFile('criscope', readFileSync(BINARY, 'utf8').replace('stand-in', 'STAND-IN'));
      const upgrade = await runCriscope(['install', '--root', node.root, '--binary', newer, '--systemd', 'host', '--wait-seconds', '10'], stubs.env);
      assertExit(upgrade, 0);
      assert.match(upgrade.stdout, /^\/usr\/local\/bin\/criscope: replaced from .* \(--binary\), mode 0755$/m);
      assert.equal(node.read('/usr/local/bin/criscope'), readFileSync(newer, 'utf8'));
      assert.equal(node.mode('/usr/local/bin/criscope'), 0o755);
      assert.equal(existsSync(node.path('/usr/local/bin/criscope.previous')), false);
    } finally {
      await criscope.stop();
    }
  });

  it("an upgrade whose criscope does not answer: the previous executable and env file are back, a unit the node did not have is removed, kubelet is not touched", async () => {
    const runtime = testRuntime();
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    const stubs = systemdStubs(node.path(KUBELET_CONFIG));
    const criscope = await startCriscope({ runtimeSocket: runtime.containerdSocket, socketPath: node.path('/run/criscope/criscope.sock'), logLevel: 'info' });
    try {
      assertExit(await hostInstall(node, stubs.env), 0);
    } finally {
      await criscope.stop();
    }
    const before = { executable: node.read('/usr/local/bin/criscope'), env: node.read('/etc/default/criscope'), kubelet: node.read(KUBELET_CONFIG) };
    // The release being installed brings kubelet's drop-in, which the node does not have.
    new NodeRoot(node.root, false).remove('/etc/systemd/system/kubelet.service.d/90-criscope.conf');
    const newer = ownFile('criscope', '#!/bin/sh\necho "a newer criscope"\n');
    const envFile = ownFile('criscope.env', 'CRISCOPE_OPTS="--http-listen 0.0.0.0:9810"\n');
    const calls = stubs.calls().length;

    const run = await runCriscope(['install', '--root', node.root, '--binary', newer, '--env-file', envFile, '--systemd', 'host', '--wait-seconds', '1'], stubs.env);
    assertExit(run, 1);
    assert.match(
      run.stderr,
      /did not answer a CRI Version call within 1 s .*; the previous \/usr\/local\/bin\/criscope, \/etc\/default\/criscope are back, \/etc\/systemd\/system\/kubelet.service.d\/90-criscope.conf \(not there before\) is removed, but that criscope does not answer either/,
    );
    assert.equal(node.read('/usr/local/bin/criscope'), before.executable);
    assert.equal(node.mode('/usr/local/bin/criscope'), 0o755);
    assert.equal(existsSync(node.path('/usr/local/bin/criscope.previous')), false);
    assert.equal(node.read('/etc/default/criscope'), before.env);
    assert.equal(existsSync(node.path('/etc/systemd/system/kubelet.service.d/90-criscope.conf')), false);
    assert.equal(node.read(KUBELET_CONFIG), before.kubelet);
    // Rolled back and restarted; never disabled (kubelet is on criscope), and kubelet not restarted.
    assert.deepEqual(stubs.calls().slice(calls), [
      'systemctl daemon-reload [kubelet on criscope]',
      'systemctl enable criscope.socket criscope.service [kubelet on criscope]',
      'systemctl restart criscope.service [kubelet on criscope]',
      'systemctl daemon-reload [kubelet on criscope]',
      'systemctl restart criscope.service [kubelet on criscope]',
    ]);
  });
});

describe("criscope install's own memory, with an executable much larger than its heap", () => {
  it('compares (size, then streamed sha256) and copies a 256 MiB executable without holding it: peak RSS stays under 200 MB', { skip: GNU_TIME === undefined ? 'GNU time (/usr/bin/time) is not installed' : false }, async () => {
    const size = 256 * 1024 * 1024;
    const dir = mkdtempSync(join(tmpdir(), 'criscope-large-'));
    const node = new FakeNode().put(KUBELET_CONFIG, kubeletFixture('kubeadm-1.33-config.yaml'));
    try {
      // Sparse files: the size is what counts, not the disk they take.
      const [first, second] = [join(dir, 'criscope-1'), join(dir, 'criscope-2')];
      for (const path of [first, second]) {
        writeFileSync(path, '');
        truncateSync(path, size);
      }
      // The same size, another first byte: only the sha256 tells them apart.
      writeFileSync(second, 'x', { flag: 'r+' });
      const { run: installed } = await runCriscopeMeasured(['install', '--root', node.root, '--binary', first]);
      assertExit(installed, 0);
      const { run: upgraded, peakRssBytes } = await runCriscopeMeasured(['install', '--root', node.root, '--binary', second]);
      assertExit(upgraded, 0);
      assert.match(upgraded.stdout, /^\/usr\/local\/bin\/criscope: replaced from /m);
      assert.equal(lstatSync(node.path('/usr/local/bin/criscope')).size, size);
      // Holding the new executable and the node's copy in memory took more than twice their size.
      assert.ok(peakRssBytes < 200_000_000, `peak RSS ${Math.round(peakRssBytes / 1e6)} MB`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(node.root, { recursive: true, force: true });
    }
  });
});
