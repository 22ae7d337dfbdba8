import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InstallError } from '../../src/errors.js';
import { planSwap } from '../../src/install/endpoint-swap.js';
import { readInstallState, writeInstallState, type InstallState } from '../../src/install/install-state.js';
import { writeKubeletFiles } from '../../src/install/kubelet-files.js';
import { readKubeletSettings } from '../../src/install/kubelet-settings.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { InstallReport } from '../../src/install/report.js';
import { FakeNode, kubeletFixture } from '../support/fake-node.js';

const CRISCOPE = 'unix:///run/criscope/criscope.sock';
const FLAGS = '/var/lib/kubelet/kubeadm-flags.env';
const CONFIG = '/var/lib/kubelet/config.yaml';

/** A node whose file system refuses one write, as a full or read-only file system would. */
class RefusingNode extends NodeRoot {
  constructor(
    root: string,
    private readonly refused: string,
  ) {
    super(root, false);
  }

  override write(nodePath: string, data: string | Buffer, mode?: number): void {
    if (nodePath === this.refused) throw new InstallError(nodePath, 'cannot write: ENOSPC');
    super.write(nodePath, data, mode);
  }
}

/** kubeadm 1.30's layout: the runtime flag in kubeadm-flags.env, and the image field to add to config.yaml, in that order. */
function kubeadmNode(): FakeNode {
  return new FakeNode().put(CONFIG, kubeletFixture('kubeadm-1.30-config.yaml')).put(FLAGS, kubeletFixture('kubeadm-1.30-flags.env'));
}

function swapsOn(node: NodeRoot): ReturnType<typeof planSwap> {
  const swaps = planSwap(readKubeletSettings(node, undefined), { containerRuntimeEndpoint: CRISCOPE, imageServiceEndpoint: CRISCOPE });
  assert.deepEqual(
    swaps.map((swap) => swap.file),
    [FLAGS, CONFIG],
  );
  return swaps;
}

function recordWith(edits: InstallState['edits']): InstallState {
  return { version: 1, previousEndpoints: { runtime: 'unix:///var/run/containerd/containerd.sock', image: 'unix:///var/run/containerd/containerd.sock' }, edits, kubeletRestartPending: true, updatedAt: '2025-01-01T00:00:00.000Z' };
}

describe("install's kubelet writes: all of them or none", () => {
  it('a file that cannot be written after another was: that one is written back, the record removed, and the error says kubelet was left as it was', () => {
    const fake = kubeadmNode();
    const node = new RefusingNode(fake.root, CONFIG);
    const swaps = swapsOn(node);
    const lines: string[] = [];
    // As install does: the record first, then the files.
    writeInstallState(node, recordWith(swaps.flatMap((swap) => swap.edits)));

    assert.throws(
      () => writeKubeletFiles(node, new InstallReport((line) => lines.push(line), false), swaps, undefined),
      (error: unknown) =>
        error instanceof InstallError &&
        error.path === CONFIG &&
        /^cannot write: ENOSPC; \/var\/lib\/kubelet\/kubeadm-flags.env was put back as it was, so kubelet was left as it was/.test(error.reason),
    );
    assert.equal(fake.read(FLAGS), kubeletFixture('kubeadm-1.30-flags.env'));
    assert.equal(fake.read(CONFIG), kubeletFixture('kubeadm-1.30-config.yaml'));
    assert.equal(existsSync(fake.path('/var/lib/criscope/install.json')), false, 'no record of edits that are not there');
    assert.ok(lines.includes(`${FLAGS}: put back as it was\n`), lines.join(''));
  });

  it('the record before this run is put back, pending restart and all', () => {
    const fake = kubeadmNode();
    const node = new RefusingNode(fake.root, CONFIG);
    const swaps = swapsOn(node);
    const earlier = recordWith([]);
    writeInstallState(node, recordWith(swaps.flatMap((swap) => swap.edits)));
    assert.throws(() => writeKubeletFiles(node, new InstallReport(() => undefined, false), swaps, earlier), InstallError);
    assert.deepEqual(readInstallState(node), earlier);
  });

  it('when every file can be written, each is, and each edit is said', () => {
    const fake = kubeadmNode();
    const node = new NodeRoot(fake.root, false);
    const lines: string[] = [];
    writeKubeletFiles(node, new InstallReport((line) => lines.push(line), false), swapsOn(node), undefined);
    assert.equal(readKubeletSettings(node, undefined).runtime.endpoint, CRISCOPE);
    assert.equal(lines.filter((line) => line.includes(`→ ${CRISCOPE}`)).length, 2, lines.join(''));
  });
});
