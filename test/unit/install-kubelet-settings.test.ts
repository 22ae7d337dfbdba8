import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InstallError } from '../../src/errors.js';
import { readKubeletSettings } from '../../src/install/kubelet-settings.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { FakeNode, kubeletFixture } from '../support/fake-node.js';

interface SettingsCase {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  readonly kubeletConfigOption?: string;
  readonly configFile: string | undefined;
  readonly runtime: string;
  readonly runtimeFrom: string;
  readonly image: string;
  /** Places that set an endpoint, as "file field-or-flag". */
  readonly places: readonly string[];
}

const CASES: readonly SettingsCase[] = [
  {
    name: 'kubeadm 1.33: the config file sets the runtime endpoint',
    files: { '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.33-config.yaml'), '/var/lib/kubelet/kubeadm-flags.env': kubeletFixture('kubeadm-1.33-flags.env') },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /var/lib/kubelet/config.yaml',
    image: 'unix:///run/containerd/containerd.sock',
    places: ['/var/lib/kubelet/config.yaml containerRuntimeEndpoint'],
  },
  {
    name: 'kubeadm 1.30: the config says "" and kubeadm-flags.env gives the flag',
    files: { '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.30-config.yaml'), '/var/lib/kubelet/kubeadm-flags.env': kubeletFixture('kubeadm-1.30-flags.env') },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///var/run/containerd/containerd.sock',
    runtimeFrom: '--container-runtime-endpoint in /var/lib/kubelet/kubeadm-flags.env',
    image: 'unix:///var/run/containerd/containerd.sock',
    places: ['/var/lib/kubelet/kubeadm-flags.env --container-runtime-endpoint'],
  },
  {
    name: "/etc/default/kubelet's KUBELET_EXTRA_ARGS come last on kubelet's command line and win",
    files: {
      '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.25-config.yaml'),
      '/var/lib/kubelet/kubeadm-flags.env': kubeletFixture('kubeadm-1.25-flags.env'),
      '/etc/default/kubelet': kubeletFixture('default-kubelet'),
    },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///run/crio/crio.sock',
    runtimeFrom: '--container-runtime-endpoint in /etc/default/kubelet',
    image: 'unix:///run/crio/crio.sock',
    places: ['/var/lib/kubelet/kubeadm-flags.env --container-runtime-endpoint', '/etc/default/kubelet --container-runtime-endpoint'],
  },
  {
    name: "kubeadm's drop-in names the config file with --config",
    files: {
      '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf'),
      '/etc/kubernetes/kubelet/config.yaml': kubeletFixture('split-image-config.yaml'),
      '/var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///not/this.sock\n',
    },
    configFile: '/etc/kubernetes/kubelet/config.yaml',
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /etc/kubernetes/kubelet/config.yaml',
    image: 'unix:///run/image-service/image.sock',
    places: ['/etc/kubernetes/kubelet/config.yaml containerRuntimeEndpoint', '/etc/kubernetes/kubelet/config.yaml imageServiceEndpoint'],
  },
  {
    name: '--kubelet-config beats what the units say',
    files: {
      '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf'),
      '/srv/kubelet.json': kubeletFixture('config.json'),
    },
    kubeletConfigOption: '/srv/kubelet.json',
    configFile: '/srv/kubelet.json',
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /srv/kubelet.json',
    image: 'unix:///run/containerd/containerd.sock',
    places: ['/srv/kubelet.json containerRuntimeEndpoint'],
  },
  {
    name: 'a --config-dir drop-in overrides the config file',
    files: {
      '/etc/systemd/system/kubelet.service.d/20-dropins.conf': '[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml --config-dir /etc/kubernetes/kubelet.conf.d"\n',
      '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.33-config.yaml'),
      '/etc/kubernetes/kubelet.conf.d/50-runtime.conf': 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/crio/crio.sock\n',
      '/etc/kubernetes/kubelet.conf.d/README': 'not a .conf: kubelet skips it\n',
    },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///run/crio/crio.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /etc/kubernetes/kubelet.conf.d/50-runtime.conf',
    image: 'unix:///run/crio/crio.sock',
    places: ['/var/lib/kubelet/config.yaml containerRuntimeEndpoint', '/etc/kubernetes/kubelet.conf.d/50-runtime.conf containerRuntimeEndpoint'],
  },
  {
    name: "nothing set anywhere: kubelet's default",
    files: { '/etc/default/kubelet': 'KUBELET_EXTRA_ARGS=\n' },
    configFile: undefined,
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: "kubelet's default",
    image: 'unix:///run/containerd/containerd.sock',
    places: [],
  },
];

describe("kubelet's settings: which files, and the endpoints they come to", () => {
  for (const testCase of CASES) {
    it(testCase.name, () => {
      const node = new FakeNode();
      for (const [path, text] of Object.entries(testCase.files)) node.put(path, text);
      const settings = readKubeletSettings(new NodeRoot(node.root, false), testCase.kubeletConfigOption);
      assert.equal(settings.configFile, testCase.configFile);
      assert.equal(settings.runtime.endpoint, testCase.runtime);
      assert.equal(settings.runtime.source, testCase.runtimeFrom);
      assert.equal(settings.image.endpoint, testCase.image);
      assert.deepEqual(
        settings.places.map((place) => `${place.file} ${place.kind === 'flag' ? place.flag : place.field}`),
        testCase.places,
      );
    });
  }

  it('refuses a --config that names a missing file, naming it and where it was named', () => {
    const node = new FakeNode().put('/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', kubeletFixture('10-kubeadm.conf'));
    assert.throws(
      () => readKubeletSettings(new NodeRoot(node.root, false), undefined),
      (error: unknown) => error instanceof InstallError && error.path === '/etc/kubernetes/kubelet/config.yaml' && /--config in \/usr\/lib\/systemd\/system\/kubelet.service.d\/10-kubeadm.conf/.test(error.reason),
    );
  });

  it('refuses a flag file it cannot parse', () => {
    const node = new FakeNode().put('/var/lib/kubelet/config.yaml', kubeletFixture('kubeadm-1.30-config.yaml')).put('/var/lib/kubelet/kubeadm-flags.env', 'KUBELET_KUBEADM_ARGS="--v=2\n');
    assert.throws(() => readKubeletSettings(new NodeRoot(node.root, false), undefined), (error: unknown) => error instanceof InstallError && error.path === '/var/lib/kubelet/kubeadm-flags.env');
  });
});
