import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { InstallError } from '../../src/errors.js';
import { parseKubeletConfig, restoreEndpointField, setEndpointField, type EndpointField } from '../../src/install/kubelet-config-edit.js';
import { kubeletFixture } from '../support/fake-node.js';

const CRISCOPE = 'unix:///run/criscope/criscope.sock';
const CRISCOPE_IMAGE = 'unix:///run/criscope/criscope-image.sock';

/** Asserts `after` is `before` with exactly one splice: `previousText` replaced by `writtenText`, every other byte in place. */
function assertOneSplice(before: string, after: string, previousText: string, writtenText: string): void {
  assert.equal(after.length - writtenText.length, before.length - previousText.length);
  for (let at = 0; at <= before.length; at += 1) {
    if (before.slice(0, at) !== after.slice(0, at)) break;
    if (after.startsWith(writtenText, at) && before.startsWith(previousText, at) && before.slice(at + previousText.length) === after.slice(at + writtenText.length)) return;
  }
  assert.fail(`not one splice of ${JSON.stringify(previousText)} → ${JSON.stringify(writtenText)}:\n${after}`);
}

interface SetCase {
  readonly name: string;
  readonly text: string;
  readonly field: EndpointField;
  readonly endpoint: string;
  readonly present: boolean;
  readonly previousText: string;
  readonly writtenText: string;
  /** The line the field is on afterwards, and the one before it, when that matters. */
  readonly lineAfter?: string;
  readonly json?: boolean;
}

const SET_CASES: readonly SetCase[] = [
  {
    name: 'kubeadm 1.33: containerRuntimeEndpoint set, replaced in place',
    text: kubeletFixture('kubeadm-1.33-config.yaml'),
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: true,
    previousText: 'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock',
    writtenText: `containerRuntimeEndpoint: ${CRISCOPE}`,
  },
  {
    name: 'kubeadm 1.33: imageServiceEndpoint absent, added in sorted place',
    text: kubeletFixture('kubeadm-1.33-config.yaml'),
    field: 'imageServiceEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `imageServiceEndpoint: ${CRISCOPE}\n`,
    lineAfter: 'imageMinimumGCAge: 0s',
  },
  {
    name: 'kubeadm 1.30: containerRuntimeEndpoint "", replaced keeping its double quotes',
    text: kubeletFixture('kubeadm-1.30-config.yaml'),
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: true,
    previousText: 'containerRuntimeEndpoint: ""',
    writtenText: `containerRuntimeEndpoint: "${CRISCOPE}"`,
  },
  {
    name: 'kubeadm 1.25: no endpoint fields, containerRuntimeEndpoint added in sorted place',
    text: kubeletFixture('kubeadm-1.25-config.yaml'),
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `containerRuntimeEndpoint: ${CRISCOPE}\n`,
    lineAfter: 'clusterDomain: cluster.local',
  },
  {
    name: 'hand-written, split image endpoint: single quotes and the trailing comment kept',
    text: kubeletFixture('split-image-config.yaml'),
    field: 'imageServiceEndpoint',
    endpoint: CRISCOPE_IMAGE,
    present: true,
    previousText: "imageServiceEndpoint: 'unix:///run/image-service/image.sock'",
    writtenText: `imageServiceEndpoint: '${CRISCOPE_IMAGE}'`,
  },
  {
    name: 'hand-written: double-quoted runtime endpoint with a comment',
    text: kubeletFixture('split-image-config.yaml'),
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: true,
    previousText: 'containerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"',
    writtenText: `containerRuntimeEndpoint: "${CRISCOPE}"`,
  },
  {
    name: 'JSON: field replaced, still JSON',
    text: kubeletFixture('config.json'),
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: true,
    previousText: '"containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock"',
    writtenText: `"containerRuntimeEndpoint": "${CRISCOPE}"`,
    json: true,
  },
  {
    name: 'JSON: field added after the last pair at its indent, still JSON',
    text: kubeletFixture('config.json'),
    field: 'imageServiceEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `,\n  "imageServiceEndpoint": "${CRISCOPE}"`,
    json: true,
  },
  {
    name: 'one-line flow mapping: field added',
    text: '{kind: KubeletConfiguration, cgroupDriver: systemd}\n',
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `, "containerRuntimeEndpoint": "${CRISCOPE}"`,
  },
  {
    name: 'unsorted keys, no newline at the end: added after the last pair',
    text: 'kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nmaxPods: 110 # site limit',
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `\ncontainerRuntimeEndpoint: ${CRISCOPE}`,
  },
  {
    name: 'unsorted keys: a new image endpoint goes beside the runtime endpoint',
    text: `kind: KubeletConfiguration\ncontainerRuntimeEndpoint: ${CRISCOPE}\napiVersion: kubelet.config.k8s.io/v1beta1\n`,
    field: 'imageServiceEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `imageServiceEndpoint: ${CRISCOPE}\n`,
    lineAfter: `containerRuntimeEndpoint: ${CRISCOPE}`,
  },
  {
    name: 'a key with no value: the value written after it',
    text: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint:\nmaxPods: 110\n',
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: true,
    previousText: 'containerRuntimeEndpoint:',
    writtenText: `containerRuntimeEndpoint: ${CRISCOPE}`,
  },
  {
    name: 'CRLF line ends: the added line ends the same way',
    text: 'apiVersion: kubelet.config.k8s.io/v1beta1\r\nkind: KubeletConfiguration\r\nmaxPods: 110\r\n',
    field: 'containerRuntimeEndpoint',
    endpoint: CRISCOPE,
    present: false,
    previousText: '',
    writtenText: `containerRuntimeEndpoint: ${CRISCOPE}\r\n`,
  },
];

describe('kubelet config: setting an endpoint field', () => {
  for (const testCase of SET_CASES) {
    it(testCase.name, () => {
      const path = '/var/lib/kubelet/config.yaml';
      const before = parseKubeletConfig(testCase.text, path);
      const result = setEndpointField(before, testCase.field, testCase.endpoint, path);
      assert.equal(result.present, testCase.present);
      assert.equal(result.previousText, testCase.previousText);
      assert.equal(result.writtenText, testCase.writtenText);
      assertOneSplice(testCase.text, result.text, testCase.previousText, testCase.writtenText);

      // What kubelet will read: the field is criscope's, everything else as it was.
      const original = parseYaml(testCase.text) as Record<string, unknown>;
      const edited = parseYaml(result.text) as Record<string, unknown>;
      assert.deepEqual(edited, { ...original, [testCase.field]: testCase.endpoint });
      if (testCase.json === true) assert.deepEqual(JSON.parse(result.text), edited);
      if (testCase.lineAfter !== undefined) {
        const lines = result.text.split(/\r?\n/);
        assert.equal(lines[lines.findIndex((line) => line.startsWith(`${testCase.field}:`)) - 1], testCase.lineAfter);
      }

      // And back, byte for byte.
      assert.equal(restoreEndpointField(result.text, path, testCase.field, result.writtenText, result.previousText), testCase.text);
    });
  }

  it('applies both fields one after the other, and restores them in reverse to the original bytes', () => {
    const path = '/var/lib/kubelet/config.yaml';
    const original = kubeletFixture('kubeadm-1.25-config.yaml');
    const first = setEndpointField(parseKubeletConfig(original, path), 'containerRuntimeEndpoint', CRISCOPE, path);
    const second = setEndpointField(parseKubeletConfig(first.text, path), 'imageServiceEndpoint', CRISCOPE, path);
    const undoneSecond = restoreEndpointField(second.text, path, 'imageServiceEndpoint', second.writtenText, second.previousText) as string;
    assert.equal(restoreEndpointField(undoneSecond, path, 'containerRuntimeEndpoint', first.writtenText, first.previousText), original);
  });

  it('does not restore a field someone changed since', () => {
    const path = '/var/lib/kubelet/config.yaml';
    const original = kubeletFixture('kubeadm-1.33-config.yaml');
    const result = setEndpointField(parseKubeletConfig(original, path), 'containerRuntimeEndpoint', CRISCOPE, path);
    const changed = result.text.replace(CRISCOPE, 'unix:///run/crio/crio.sock');
    assert.equal(restoreEndpointField(changed, path, 'containerRuntimeEndpoint', result.writtenText, result.previousText), undefined);
  });
});

describe('kubelet config: files install refuses, naming the file and the reason', () => {
  const REFUSED: readonly { name: string; text: string; reason: RegExp }[] = [
    { name: 'not YAML', text: 'kind: KubeletConfiguration\nclusterDNS: [10.96.0.10\n', reason: /not valid YAML/ },
    { name: 'a list at the top', text: '- kind: KubeletConfiguration\n', reason: /top level is not a mapping/ },
    { name: 'an empty file', text: '', reason: /top level is not a mapping/ },
    { name: 'no kind', text: 'apiVersion: kubelet.config.k8s.io/v1beta1\nmaxPods: 110\n', reason: /kind is missing/ },
    { name: 'another kind', text: 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n', reason: /kind is "KubeProxyConfiguration", not KubeletConfiguration/ },
    { name: 'a key twice', text: 'kind: KubeletConfiguration\nmaxPods: 110\nmaxPods: 120\n', reason: /not valid YAML: Map keys must be unique/ },
    { name: 'two documents', text: 'kind: KubeletConfiguration\n---\nkind: KubeletConfiguration\n', reason: /not valid YAML/ },
    { name: 'an endpoint that is not a string', text: 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: [a, b]\n', reason: /containerRuntimeEndpoint is not a string/ },
  ];
  for (const testCase of REFUSED) {
    it(testCase.name, () => {
      assert.throws(
        () => parseKubeletConfig(testCase.text, '/var/lib/kubelet/config.yaml'),
        (error: unknown) => error instanceof InstallError && error.path === '/var/lib/kubelet/config.yaml' && testCase.reason.test(error.reason),
      );
    });
  }

  it('an endpoint written as a block scalar is left for a person to edit', () => {
    const text = 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: |-\n  unix:///run/containerd/containerd.sock\n';
    const path = '/var/lib/kubelet/config.yaml';
    assert.throws(() => setEndpointField(parseKubeletConfig(text, path), 'containerRuntimeEndpoint', CRISCOPE, path), /block scalar; edit it by hand/);
  });
});
