import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FakeNode, fakeExecutable, runCriscope } from '../support/fake-node.js';

/** systemd-analyze on a node root: exit status and everything it printed. */
function systemdAnalyze(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe('the systemd units install puts on a node', () => {
  it('pass systemd-analyze verify, with kubelet\'s drop-in on a kubeadm kubelet.service, and score OK on its security check', async () => {
    const node = new FakeNode();
    // A kubeadm node's kubelet unit; verify checks that ExecStart names an executable.
    node.put('/lib/systemd/system/kubelet.service', '[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n[Install]\nWantedBy=multi-user.target\n');
    node.put('/usr/bin/kubelet', '#!/bin/sh\n', 0o755);
    node.put('/var/lib/kubelet/config.yaml', 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
    // The targets and /bin/kill the units refer to, from this machine's systemd.
    cpSync('/usr/lib/systemd/system', node.path('/usr/lib/systemd/system'), { recursive: true });
    cpSync('/bin/kill', node.path('/bin/kill'));
    const install = await runCriscope(['install', '--root', node.root, '--systemd', 'none', '--binary', fakeExecutable()]);
    assert.equal(install.status, 0, install.stderr);

    const verify = systemdAnalyze(['verify', `--root=${node.root}`, 'criscope.socket', 'criscope.service', 'kubelet.service']);
    assert.deepEqual(verify, { status: 0, output: '' }, 'verify warns about nothing');
    const drop = systemdAnalyze(['cat-config', `--root=${node.root}`, 'systemd/system/kubelet.service']);
    assert.match(drop.output, /90-criscope\.conf[\s\S]*After=criscope\.socket criscope\.service/);

    // Exposure 0 (locked down) to 10 (unsafe); systemd calls up to 3.9 "OK".
    const security = systemdAnalyze(['security', '--offline=true', `--root=${node.root}`, '--threshold=39', 'criscope.service']);
    assert.equal(security.status, 0, security.output);
    assert.match(security.output, /Overall exposure level for criscope\.service: [0-3]\.\d OK/);
  });
});
