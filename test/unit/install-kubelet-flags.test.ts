import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InstallError } from '../../src/errors.js';
import { parseEnvFile } from '../../src/install/env-file.js';
import { addFlag, flagsIn, parseFlagsFile, restoreFlag, setFlag } from '../../src/install/kubelet-flags-edit.js';
import { kubeletFixture } from '../support/fake-node.js';

const CRISCOPE = 'unix:///run/criscope/criscope.sock';
const RUNTIME_FLAG = '--container-runtime-endpoint';

interface FlagCase {
  readonly name: string;
  readonly text: string;
  readonly variable: string;
  /** What the flag reads as before. */
  readonly before: readonly string[];
  readonly expected: string;
}

const SET_CASES: readonly FlagCase[] = [
  {
    name: 'kubeadm-flags.env of kubeadm 1.30: --flag=value in double quotes',
    text: kubeletFixture('kubeadm-1.30-flags.env'),
    variable: 'KUBELET_KUBEADM_ARGS',
    before: ['unix:///var/run/containerd/containerd.sock'],
    expected: `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=${CRISCOPE} --pod-infra-container-image=registry.k8s.io/pause:3.9"\n`,
  },
  {
    name: 'kubeadm-flags.env of kubeadm 1.25: beside --container-runtime=remote',
    text: kubeletFixture('kubeadm-1.25-flags.env'),
    variable: 'KUBELET_KUBEADM_ARGS',
    before: ['unix:///var/run/containerd/containerd.sock'],
    expected: `KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=${CRISCOPE} --pod-infra-container-image=registry.k8s.io/pause:3.8"\n`,
  },
  {
    name: '/etc/default/kubelet: "--flag value", unquoted, after a comment',
    text: kubeletFixture('default-kubelet'),
    variable: 'KUBELET_EXTRA_ARGS',
    before: ['unix:///run/crio/crio.sock'],
    expected: kubeletFixture('default-kubelet').replace('--container-runtime-endpoint unix:///run/crio/crio.sock', `--container-runtime-endpoint ${CRISCOPE}`),
  },
  {
    name: 'single quotes, and the flag given twice: only the occurrence asked for changes',
    text: "KUBELET_EXTRA_ARGS='--container-runtime-endpoint=unix:///a.sock --v=2 --container-runtime-endpoint=unix:///b.sock'\n",
    variable: 'KUBELET_EXTRA_ARGS',
    before: ['unix:///a.sock', 'unix:///b.sock'],
    expected: `KUBELET_EXTRA_ARGS='--container-runtime-endpoint=unix:///a.sock --v=2 --container-runtime-endpoint=${CRISCOPE}'\n`,
  },
  {
    name: 'the underscore spelling kubelet also takes: found, and kept as written',
    text: 'KUBELET_EXTRA_ARGS="--v=2 --container_runtime_endpoint=unix:///run/crio/crio.sock"\n',
    variable: 'KUBELET_EXTRA_ARGS',
    before: ['unix:///run/crio/crio.sock'],
    expected: `KUBELET_EXTRA_ARGS="--v=2 --container_runtime_endpoint=${CRISCOPE}"\n`,
  },
  {
    name: "kubespray's kubelet.env: a quoted value over several lines, each ending in a backslash",
    text: kubeletFixture('kubespray-kubelet.env'),
    variable: 'KUBELET_ARGS',
    before: ['unix:///var/run/containerd/containerd.sock'],
    expected: kubeletFixture('kubespray-kubelet.env').replace('--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock', `--container-runtime-endpoint=${CRISCOPE}`),
  },
  {
    name: '"--flag value" with a line break between them',
    text: 'KUBELET_EXTRA_ARGS="--container-runtime-endpoint \\\n  unix:///run/crio/crio.sock"\n',
    variable: 'KUBELET_EXTRA_ARGS',
    before: ['unix:///run/crio/crio.sock'],
    expected: `KUBELET_EXTRA_ARGS="--container-runtime-endpoint \\\n  ${CRISCOPE}"\n`,
  },
];

describe('kubelet flag files: setting --container-runtime-endpoint', () => {
  for (const testCase of SET_CASES) {
    it(testCase.name, () => {
      const path = '/var/lib/kubelet/kubeadm-flags.env';
      const file = parseFlagsFile(testCase.text, path, testCase.variable);
      assert.deepEqual(
        flagsIn(file, RUNTIME_FLAG, path).map((found) => found.value),
        testCase.before,
      );
      const last = testCase.before.length - 1;
      const result = setFlag(file, RUNTIME_FLAG, last, CRISCOPE, path);
      assert.equal(result.text, testCase.expected);
      assert.equal(flagsIn(parseFlagsFile(result.text, path, testCase.variable), RUNTIME_FLAG, path)[last]?.value, CRISCOPE);
      assert.equal(restoreFlag(result.text, path, testCase.variable, RUNTIME_FLAG, last, result.writtenText, result.previousText), testCase.text);
    });
  }
});

describe('kubelet flag files: adding the flag when kubelet has no config file', () => {
  const ADD_CASES: readonly { name: string; text: string; expected: string }[] = [
    { name: 'an empty unquoted variable (the Debian package default)', text: 'KUBELET_EXTRA_ARGS=\n', expected: `KUBELET_EXTRA_ARGS=--container-runtime-endpoint=${CRISCOPE}\n` },
    { name: 'a quoted variable with flags', text: 'KUBELET_EXTRA_ARGS="--v=2"\n', expected: `KUBELET_EXTRA_ARGS="--v=2 --container-runtime-endpoint=${CRISCOPE}"\n` },
    { name: 'a file without the variable, or a final newline', text: '# nothing yet', expected: `# nothing yet\nKUBELET_EXTRA_ARGS="--container-runtime-endpoint=${CRISCOPE}"\n` },
  ];
  for (const testCase of ADD_CASES) {
    it(testCase.name, () => {
      const path = '/etc/default/kubelet';
      const result = addFlag(parseFlagsFile(testCase.text, path, 'KUBELET_EXTRA_ARGS'), RUNTIME_FLAG, CRISCOPE, path);
      assert.equal(result.text, testCase.expected);
      assert.equal(result.present, false);
      assert.equal(restoreFlag(result.text, path, 'KUBELET_EXTRA_ARGS', RUNTIME_FLAG, 0, result.writtenText, result.previousText), testCase.text);
    });
  }

  it('does not restore a flag someone changed since', () => {
    const path = '/var/lib/kubelet/kubeadm-flags.env';
    const text = kubeletFixture('kubeadm-1.30-flags.env');
    const result = setFlag(parseFlagsFile(text, path, 'KUBELET_KUBEADM_ARGS'), RUNTIME_FLAG, 0, CRISCOPE, path);
    const changed = result.text.replace(CRISCOPE, 'unix:///run/crio/crio.sock');
    assert.equal(restoreFlag(changed, path, 'KUBELET_KUBEADM_ARGS', RUNTIME_FLAG, 0, result.writtenText, result.previousText), undefined);
  });
});

describe('kubelet flag files install refuses, naming the file and the line', () => {
  const REFUSED: readonly { name: string; text: string; reason: RegExp }[] = [
    { name: 'an unclosed double quote', text: 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///x.sock\n', reason: /unbalanced " quote in KUBELET_KUBEADM_ARGS on line 1/ },
    { name: 'a stray quote in an unquoted value', text: "# flags\nKUBELET_EXTRA_ARGS=--node-labels='a=b\n", reason: /unbalanced ' quote in KUBELET_EXTRA_ARGS on line 2/ },
    { name: 'text after the closing quote', text: 'KUBELET_EXTRA_ARGS="--v=2" --v=3\n', reason: /text after the closing quote of KUBELET_EXTRA_ARGS on line 1/ },
    { name: 'a line that is not NAME=value', text: 'export KUBELET_EXTRA_ARGS\n', reason: /line 1 is not NAME=value/ },
    { name: 'a continued line', text: 'KUBELET_EXTRA_ARGS=--v=2 \\\n  --max-pods=200\n', reason: /continues on the next line/ },
  ];
  for (const testCase of REFUSED) {
    it(testCase.name, () => {
      assert.throws(
        () => parseEnvFile(testCase.text, '/etc/default/kubelet'),
        (error: unknown) => error instanceof InstallError && error.path === '/etc/default/kubelet' && testCase.reason.test(error.reason),
      );
    });
  }

  it('a flag with no value', () => {
    const path = '/etc/default/kubelet';
    const file = parseFlagsFile('KUBELET_EXTRA_ARGS="--v=2 --container-runtime-endpoint"\n', path, 'KUBELET_EXTRA_ARGS');
    assert.throws(() => flagsIn(file, RUNTIME_FLAG, path), /--container-runtime-endpoint has no value/);
  });
});
