import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { readKubeletSettings } from '../../src/install/kubelet-settings.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { fakeExecutable, FakeNode, kubeletFixture, runCriscope, type CliRun } from '../support/fake-node.js';
import { entryOf, linkOn, snapshotWithLinks } from '../support/node-links.js';
import { waitFor } from '../support/wait.js';

/**
 * `criscope install` and `uninstall` on the kubelet layouts found on real nodes beyond
 * kubeadm's plain one: kubelet files that are symbolic links (or in linked directories),
 * kubelet units that give flags over continuation lines or in variables of their own
 * environment files (kubespray, EKS), and the layouts install refuses.
 */

const CRISCOPE = 'unix:///run/criscope/criscope.sock';
const BINARY = fakeExecutable();
const CONFIG = '/var/lib/kubelet/config.yaml';

function installOn(node: FakeNode): Promise<CliRun> {
  return runCriscope(['install', '--root', node.root, '--binary', BINARY]);
}

function uninstallOn(node: FakeNode): Promise<CliRun> {
  return runCriscope(['uninstall', '--root', node.root]);
}

function assertExit(run: CliRun, status: number): void {
  assert.equal(run.status, status, `exit ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
}

function kubeletRuntime(node: FakeNode): string {
  return readKubeletSettings(new NodeRoot(node.root, false), undefined).runtime.endpoint;
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** What uninstall leaves on purpose: criscope's config and env file, and the backups of kubelet's files. */
function keptByUninstall(path: string): boolean {
  return path.startsWith('/etc/criscope') || path === '/etc/default/criscope' || path.endsWith('.criscope-backup');
}

/** Every entry there before install is there again, the same (links the same links, files the same bytes and mode). */
function assertAsBefore(node: FakeNode, before: ReadonlyMap<string, string>): void {
  const after = snapshotWithLinks(node);
  for (const [path, entry] of before) assert.equal(after.get(path), entry, `${path} is as it was before install`);
  for (const path of after.keys()) if (!before.has(path)) assert.ok(keptByUninstall(path) || after.get(path)?.startsWith('dir '), `${path} was left behind`);
}

const KUBELET_CONFIG = kubeletFixture('kubeadm-1.33-config.yaml');

interface LinkedLayout {
  readonly name: string;
  readonly layout: (node: FakeNode) => void;
  /** The file the kubelet config really is. */
  readonly real: string;
  /** Where the backup of config.yaml really is (beside config.yaml, wherever that directory really is). */
  readonly backup: string;
  readonly links: Readonly<Record<string, string>>;
}

const LINKED: readonly LinkedLayout[] = [
  {
    name: 'config.yaml a relative link to /etc/kubernetes/kubelet-config.yaml',
    layout: (node) => {
      node.put('/etc/kubernetes/kubelet-config.yaml', KUBELET_CONFIG, 0o600);
      linkOn(node, CONFIG, '../../../etc/kubernetes/kubelet-config.yaml');
    },
    real: '/etc/kubernetes/kubelet-config.yaml',
    backup: `${CONFIG}.criscope-backup`,
    links: { [CONFIG]: '../../../etc/kubernetes/kubelet-config.yaml' },
  },
  {
    name: 'config.yaml an absolute link, which must resolve under --root',
    layout: (node) => {
      node.put('/etc/kubernetes/kubelet-config-on-the-node.yaml', KUBELET_CONFIG, 0o600);
      linkOn(node, CONFIG, '/etc/kubernetes/kubelet-config-on-the-node.yaml');
    },
    real: '/etc/kubernetes/kubelet-config-on-the-node.yaml',
    backup: `${CONFIG}.criscope-backup`,
    links: { [CONFIG]: '/etc/kubernetes/kubelet-config-on-the-node.yaml' },
  },
  {
    name: '/var/lib/kubelet a link to /data/kubelet (kubelet state on another disk)',
    layout: (node) => {
      node.put('/data/kubelet/config.yaml', KUBELET_CONFIG, 0o600);
      linkOn(node, '/var/lib/kubelet', '/data/kubelet');
    },
    real: '/data/kubelet/config.yaml',
    backup: '/data/kubelet/config.yaml.criscope-backup',
    links: { '/var/lib/kubelet': '/data/kubelet' },
  },
];

describe('criscope install and uninstall with kubelet files behind symbolic links', () => {
  for (const layout of LINKED) {
    it(`${layout.name}: the real file is edited and keeps its mode, the link stays, uninstall restores the real file`, async () => {
      const node = new FakeNode();
      layout.layout(node);
      const before = snapshotWithLinks(node);

      const installed = await installOn(node);
      assertExit(installed, 0);
      assert.match(installed.stdout, new RegExp(`^kubelet config: ${escaped(CONFIG)} \\(the default path, → ${escaped(layout.real)}\\)$`, 'm'));
      for (const [link, target] of Object.entries(layout.links)) assert.equal(entryOf(node, link), `link → ${target}`, `${link} is still a link`);
      assert.equal(node.mode(layout.real), 0o600, 'the kubelet config is not made world-writable');
      assert.match(node.read(layout.real), new RegExp(`^containerRuntimeEndpoint: ${escaped(CRISCOPE)}$`, 'm'));
      assert.equal(kubeletRuntime(node), CRISCOPE);
      // The backup is a copy of the real file, as private as it.
      assert.equal(node.read(layout.backup), KUBELET_CONFIG);
      assert.equal(node.mode(layout.backup), 0o600);
      assert.match(entryOf(node, layout.backup), /^file /);

      const again = await installOn(node);
      assertExit(again, 0);
      assert.match(again.stdout, /^nothing changed$/m);

      const removed = await uninstallOn(node);
      assertExit(removed, 0);
      assert.equal(node.read(layout.real), KUBELET_CONFIG);
      assertAsBefore(node, before);
    });
  }

  it('a loop of links: refused, naming the path, nothing written', async () => {
    const node = new FakeNode();
    linkOn(node, CONFIG, 'config-next.yaml');
    linkOn(node, '/var/lib/kubelet/config-next.yaml', 'config.yaml');
    node.put('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS=\n');
    const before = snapshotWithLinks(node);
    const run = await installOn(node);
    assertExit(run, 1);
    assert.match(run.stderr, /^criscope: \/var\/lib\/kubelet\/config.yaml: more than 40 symbolic links on the way/);
    assert.deepEqual(snapshotWithLinks(node), before);
  });
});

describe("criscope install reads kubelet's command line from its unit, as systemd runs it", () => {
  it("kubespray: the flag in kubelet.env's KUBELET_ARGS, which ExecStart= expands over continuation lines, is edited there and restored", async () => {
    const node = new FakeNode()
      .put('/etc/systemd/system/kubelet.service', kubeletFixture('kubespray-kubelet.service'))
      .put('/etc/kubernetes/kubelet.env', kubeletFixture('kubespray-kubelet.env'), 0o600)
      .put('/etc/kubernetes/kubelet-config.yaml', kubeletFixture('kubeadm-1.25-config.yaml'))
      // Neither is kubelet's: the unit reads neither file.
      .put(CONFIG, 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/stale.sock\n')
      .put('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///run/stale.sock\n');
    const before = snapshotWithLinks(node);

    const installed = await installOn(node);
    assertExit(installed, 0);
    assert.match(installed.stdout, /^kubelet config: \/etc\/kubernetes\/kubelet-config.yaml \(--config in \/etc\/kubernetes\/kubelet.env\)$/m);
    assert.match(installed.stdout, /^\/etc\/kubernetes\/kubelet.env: KUBELET_ARGS --container-runtime-endpoint: unix:\/\/\/var\/run\/containerd\/containerd.sock → unix:\/\/\/run\/criscope\/criscope.sock$/m);
    assert.equal(node.read('/etc/kubernetes/kubelet.env'), kubeletFixture('kubespray-kubelet.env').replace('--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock', `--container-runtime-endpoint=${CRISCOPE}`));
    assert.equal(node.mode('/etc/kubernetes/kubelet.env'), 0o600);
    assert.equal(kubeletRuntime(node), CRISCOPE);
    for (const untouched of [CONFIG, '/etc/default/kubelet', '/etc/systemd/system/kubelet.service']) assert.equal(entryOf(node, untouched), before.get(untouched), `${untouched} is not touched`);

    assertExit(await uninstallOn(node), 0);
    assertAsBefore(node, before);
  });

  it('the underscore spelling in kubeadm-flags.env is edited, and kept as written', async () => {
    const flags = 'KUBELET_KUBEADM_ARGS="--container_runtime_endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n';
    const node = new FakeNode()
      .put('/usr/lib/systemd/system/kubelet.service', '[Service]\nExecStart=/usr/bin/kubelet\n')
      .put('/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', kubeletFixture('10-kubeadm.conf'))
      .put('/etc/kubernetes/kubelet/config.yaml', kubeletFixture('kubeadm-1.30-config.yaml'))
      .put('/var/lib/kubelet/kubeadm-flags.env', flags);
    const before = snapshotWithLinks(node);
    assertExit(await installOn(node), 0);
    assert.equal(node.read('/var/lib/kubelet/kubeadm-flags.env'), flags.replace('unix:///var/run/containerd/containerd.sock', CRISCOPE));
    assert.equal(kubeletRuntime(node), CRISCOPE);
    assertExit(await uninstallOn(node), 0);
    assertAsBefore(node, before);
  });

  const REFUSED: readonly { name: string; files: Readonly<Record<string, string>>; message: RegExp }[] = [
    {
      name: "EKS AL2: --container-runtime-endpoint on a continuation line of ExecStart= itself",
      files: { '/etc/systemd/system/kubelet.service': kubeletFixture('eks-al2-kubelet.service'), '/etc/kubernetes/kubelet/kubelet-config.json': kubeletFixture('config.json') },
      message: /^criscope: \/etc\/systemd\/system\/kubelet.service: line 12: kubelet's ExecStart= gives --container-runtime-endpoint itself, and install does not edit unit files; remove it there, set containerRuntimeEndpoint in kubelet's config file instead/,
    },
    {
      name: 'a drop-in whose Environment= gives KUBELET_EXTRA_ARGS, which ExecStart= expands, the flag',
      files: {
        '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf'),
        '/etc/kubernetes/kubelet/config.yaml': KUBELET_CONFIG,
        '/etc/systemd/system/kubelet.service.d/20-cri.conf': '[Service]\nEnvironment="KUBELET_EXTRA_ARGS=--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n',
      },
      message: /^criscope: \/etc\/systemd\/system\/kubelet.service.d\/20-cri.conf: line 2: Environment= sets KUBELET_EXTRA_ARGS, which kubelet's ExecStart= expands, with --container-runtime-endpoint/,
    },
  ];
  for (const testCase of REFUSED) {
    it(`refused, naming the file and line, nothing written: ${testCase.name}`, async () => {
      const node = new FakeNode();
      for (const [path, text] of Object.entries(testCase.files)) node.put(path, text);
      const before = snapshotWithLinks(node);
      const run = await installOn(node);
      assertExit(run, 1);
      assert.match(run.stderr, testCase.message);
      assert.deepEqual(snapshotWithLinks(node), before);
    });
  }
});

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe("criscope.socket's path and criscope's listen spelled differently", () => {
  it('criscope serves the socket systemd passed when its listen names the same path another way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-spelling-'));
    const socketPath = join(dir, 'criscope.sock');
    const child = spawn(
      'systemd-socket-activate',
      ['--listen', socketPath, process.execPath, MAIN, 'serve', '--listen', `unix://${dir}/./sub/..//criscope.sock`, '--runtime-endpoint', `unix://${join(dir, 'runtime.sock')}`, '--http-listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => existsSync(socketPath), 'systemd-socket-activate to bind the socket');
      // The first connection starts criscope.
      const client = connect(socketPath);
      client.on('error', () => undefined);
      await waitFor(() => /"msg":"criscope serving"|systemd passed this socket/.test(output), 'criscope to start', 15_000);
      client.destroy();
      assert.doesNotMatch(output, /systemd passed this socket/);
      assert.match(output, /"msg":"criscope serving"/);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
