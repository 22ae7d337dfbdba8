import { strict as assert } from 'node:assert';
import { lstatSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InstallError } from '../../src/errors.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { FakeNode } from '../support/fake-node.js';
import { entryOf, linkOn, snapshotWithLinks } from '../support/node-links.js';

const CONFIG = '/var/lib/kubelet/config.yaml';
const TEXT = 'kind: KubeletConfiguration\n';

interface LinkCase {
  readonly name: string;
  /** Lays out the node: CONFIG leads, through links, to `real`. */
  readonly layout: (node: FakeNode) => void;
  readonly real: string;
  /** The links that must still be links afterwards, with their targets. */
  readonly links: Readonly<Record<string, string>>;
}

const LINK_CASES: readonly LinkCase[] = [
  {
    name: 'a relative link to a file',
    layout: (node) => {
      node.put('/etc/kubernetes/kubelet-config.yaml', TEXT, 0o600);
      linkOn(node, CONFIG, '../../../etc/kubernetes/kubelet-config.yaml');
    },
    real: '/etc/kubernetes/kubelet-config.yaml',
    links: { [CONFIG]: '../../../etc/kubernetes/kubelet-config.yaml' },
  },
  {
    name: "an absolute link: its target is the node's path, under the root, not the installer's",
    layout: (node) => {
      node.put('/etc/kubernetes/kubelet-config-only-on-the-node.yaml', TEXT, 0o600);
      linkOn(node, CONFIG, '/etc/kubernetes/kubelet-config-only-on-the-node.yaml');
    },
    real: '/etc/kubernetes/kubelet-config-only-on-the-node.yaml',
    links: { [CONFIG]: '/etc/kubernetes/kubelet-config-only-on-the-node.yaml' },
  },
  {
    name: 'a linked directory (/var/lib/kubelet → /data/kubelet)',
    layout: (node) => {
      node.put('/data/kubelet/config.yaml', TEXT, 0o600);
      linkOn(node, '/var/lib/kubelet', '/data/kubelet');
    },
    real: '/data/kubelet/config.yaml',
    links: { '/var/lib/kubelet': '/data/kubelet' },
  },
  {
    name: '`..` that would climb above the root stops at it, as it does at /',
    layout: (node) => {
      node.put('/etc/kubelet.yaml', TEXT, 0o600);
      linkOn(node, CONFIG, '../../../../../../../../../etc/kubelet.yaml');
    },
    real: '/etc/kubelet.yaml',
    links: { [CONFIG]: '../../../../../../../../../etc/kubelet.yaml' },
  },
  {
    name: 'a chain: a link to a link in a linked directory',
    layout: (node) => {
      node.put('/srv/k8s/v2/kubelet.yaml', TEXT, 0o600);
      linkOn(node, '/etc/kubernetes', '/srv/k8s/current');
      linkOn(node, '/srv/k8s/current', 'v2');
      linkOn(node, CONFIG, '/etc/kubernetes/kubelet.yaml');
    },
    real: '/srv/k8s/v2/kubelet.yaml',
    links: { [CONFIG]: '/etc/kubernetes/kubelet.yaml', '/etc/kubernetes': '/srv/k8s/current', '/srv/k8s/current': 'v2' },
  },
];

describe('NodeRoot follows symbolic links inside the root; a link stays a link', () => {
  for (const testCase of LINK_CASES) {
    it(`${testCase.name}: read, mode and write reach the real file, which keeps its mode`, () => {
      const node = new FakeNode();
      testCase.layout(node);
      const root = new NodeRoot(node.root, false);
      assert.equal(root.resolve(CONFIG), testCase.real);
      assert.equal(root.readText(CONFIG), TEXT);
      assert.equal(root.modeOf(CONFIG), 0o600, "the file's own mode, not the link's 0777");
      assert.ok(root.exists(CONFIG));

      root.write(CONFIG, `${TEXT}containerRuntimeEndpoint: unix:///run/criscope/criscope.sock\n`);
      assert.equal(node.read(testCase.real), `${TEXT}containerRuntimeEndpoint: unix:///run/criscope/criscope.sock\n`);
      assert.equal(node.mode(testCase.real), 0o600);
      for (const [link, target] of Object.entries(testCase.links)) assert.equal(entryOf(node, link), `link → ${target}`);
    });
  }

  it('a dry run writes through the link in memory only, and later reads see it', () => {
    const node = new FakeNode();
    LINK_CASES[0]?.layout(node);
    const before = snapshotWithLinks(node);
    const root = new NodeRoot(node.root, true);
    root.write(CONFIG, 'changed\n');
    assert.equal(root.readText(CONFIG), 'changed\n');
    assert.equal(root.readText('/etc/kubernetes/kubelet-config.yaml'), 'changed\n', 'one file, whichever name reads it');
    assert.equal(root.modeOf(CONFIG), 0o600);
    assert.deepEqual(snapshotWithLinks(node), before);
  });

  it('a link whose target is outside the root is never read in the installer\'s file system', () => {
    const outside = mkdtempSync(join(tmpdir(), 'criscope-outside-'));
    writeFileSync(join(outside, 'secret.yaml'), 'kind: KubeletConfiguration\n# outside the node root\n');
    const node = new FakeNode();
    linkOn(node, CONFIG, join(outside, 'secret.yaml'));
    const root = new NodeRoot(node.root, false);
    assert.equal(root.resolve(CONFIG), join(outside, 'secret.yaml'), 'the same path, taken under the root');
    assert.equal(root.readText(CONFIG), undefined);
  });

  it('remove takes away the link itself, not what it leads to; a link that leads nowhere still counts as there', () => {
    const node = new FakeNode().put('/etc/systemd/system/criscope.service', '[Service]\n');
    linkOn(node, '/etc/systemd/system/multi-user.target.wants/criscope.service', '/etc/systemd/system/criscope.service');
    linkOn(node, '/etc/systemd/system/sockets.target.wants/criscope.socket', '/etc/systemd/system/criscope.socket');
    const root = new NodeRoot(node.root, false);
    assert.ok(root.exists('/etc/systemd/system/sockets.target.wants/criscope.socket'), 'dangling, but there');
    assert.equal(root.readText('/etc/systemd/system/sockets.target.wants/criscope.socket'), undefined);
    assert.ok(root.remove('/etc/systemd/system/multi-user.target.wants/criscope.service'));
    assert.ok(root.remove('/etc/systemd/system/sockets.target.wants/criscope.socket'));
    assert.equal(node.read('/etc/systemd/system/criscope.service'), '[Service]\n');
    assert.ok(!root.exists('/etc/systemd/system/multi-user.target.wants/criscope.service'));
    assert.ok(!root.remove('/etc/systemd/system/sockets.target.wants/criscope.socket'), 'nothing left to remove');
  });

  it('a loop of links is refused, naming the path', () => {
    const node = new FakeNode();
    mkdirSync(node.path('/var/lib/kubelet'), { recursive: true });
    linkOn(node, CONFIG, 'config-b.yaml');
    linkOn(node, '/var/lib/kubelet/config-b.yaml', 'config.yaml');
    const root = new NodeRoot(node.root, false);
    assert.throws(
      () => root.readText(CONFIG),
      (error: unknown) => error instanceof InstallError && error.path === CONFIG && /more than 40 symbolic links/.test(error.reason),
    );
  });

  it('a new file through a link that leads nowhere is made where the link points', () => {
    const node = new FakeNode();
    linkOn(node, CONFIG, '/etc/kubernetes/new/kubelet.yaml');
    const root = new NodeRoot(node.root, false);
    root.write(CONFIG, TEXT);
    assert.equal(node.read('/etc/kubernetes/new/kubelet.yaml'), TEXT);
    assert.ok(lstatSync(node.path(CONFIG)).isSymbolicLink());
  });
});
