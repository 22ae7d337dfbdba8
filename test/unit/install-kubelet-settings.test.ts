import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InstallError } from '../../src/errors.js';
import { readKubeletSettings } from '../../src/install/kubelet-settings.js';
import { NodeRoot } from '../../src/install/node-root.js';
import { lineOf, serviceSettings, unitWords } from '../../src/install/systemd-unit.js';
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
    name: "kubespray: ExecStart= over continuation lines expands $KUBELET_ARGS from /etc/kubernetes/kubelet.env, itself over several lines",
    files: {
      '/etc/systemd/system/kubelet.service': kubeletFixture('kubespray-kubelet.service'),
      '/etc/kubernetes/kubelet.env': kubeletFixture('kubespray-kubelet.env'),
      '/etc/kubernetes/kubelet-config.yaml': kubeletFixture('kubeadm-1.25-config.yaml'),
      '/var/lib/kubelet/config.yaml': 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///not/this.sock\n',
      '/etc/default/kubelet': 'KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///not/this/either.sock\n',
    },
    configFile: '/etc/kubernetes/kubelet-config.yaml',
    runtime: 'unix:///var/run/containerd/containerd.sock',
    runtimeFrom: '--container-runtime-endpoint in /etc/kubernetes/kubelet.env',
    image: 'unix:///var/run/containerd/containerd.sock',
    places: ['/etc/kubernetes/kubelet.env --container-runtime-endpoint'],
  },
  {
    name: 'the underscore spelling of a flag is the same flag to kubelet',
    files: {
      '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.30-config.yaml'),
      '/var/lib/kubelet/kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container_runtime_endpoint=unix:///run/crio/crio.sock --image_service_endpoint unix:///run/image.sock"\n',
    },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///run/crio/crio.sock',
    runtimeFrom: '--container-runtime-endpoint in /var/lib/kubelet/kubeadm-flags.env',
    image: 'unix:///run/image.sock',
    places: ['/var/lib/kubelet/kubeadm-flags.env --container-runtime-endpoint', '/var/lib/kubelet/kubeadm-flags.env --image-service-endpoint'],
  },
  {
    name: 'a drop-in in /etc hides the one of the same name in /usr/lib; an EnvironmentFile= beats Environment= for the same variable',
    files: {
      '/usr/lib/systemd/system/kubelet.service': '[Service]\nExecStart=/usr/bin/kubelet\n',
      '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf'),
      '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf').replace('--config=/etc/kubernetes/kubelet/config.yaml', '--config=/srv/kubelet.yaml'),
      // Set with Environment=, but /etc/default/kubelet sets it too, and that wins: kubelet never sees this flag.
      '/etc/systemd/system/kubelet.service.d/20-cri.conf': '[Service]\nEnvironment="KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///run/overridden.sock"\n',
      '/etc/default/kubelet': 'KUBELET_EXTRA_ARGS=--max-pods=200\n',
      '/srv/kubelet.yaml': kubeletFixture('kubeadm-1.33-config.yaml'),
    },
    configFile: '/srv/kubelet.yaml',
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /srv/kubelet.yaml',
    image: 'unix:///run/containerd/containerd.sock',
    places: ['/srv/kubelet.yaml containerRuntimeEndpoint'],
  },
  {
    name: 'a later drop-in resets ExecStart=: only the last command line counts, and a variable it does not expand is not kubelet\'s',
    files: {
      '/lib/systemd/system/kubelet.service': '[Service]\nExecStart=/usr/bin/kubelet --container-runtime-endpoint=unix:///run/old.sock\n',
      '/etc/systemd/system/kubelet.service.d/50-mine.conf': [
        '[Service]',
        'EnvironmentFile=-/etc/kubelet/flags.env',
        'ExecStart=',
        '# the flags live in flags.env',
        'ExecStart=/usr/bin/kubelet ${MY_FLAGS}',
      ].join('\n'),
      '/etc/kubelet/flags.env': 'MY_FLAGS="--config=/var/lib/kubelet/config.yaml --image-service-endpoint=unix:///run/img.sock"\nUNUSED="--container-runtime-endpoint=unix:///run/unused.sock"\n',
      '/var/lib/kubelet/config.yaml': kubeletFixture('kubeadm-1.33-config.yaml'),
    },
    configFile: '/var/lib/kubelet/config.yaml',
    runtime: 'unix:///run/containerd/containerd.sock',
    runtimeFrom: 'containerRuntimeEndpoint in /var/lib/kubelet/config.yaml',
    image: 'unix:///run/img.sock',
    places: ['/var/lib/kubelet/config.yaml containerRuntimeEndpoint', '/etc/kubelet/flags.env --image-service-endpoint'],
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

describe("kubelet's settings: endpoint flags install cannot edit are refused, naming the file and line", () => {
  const REFUSED: readonly { name: string; files: Readonly<Record<string, string>>; path: string; reason: RegExp }[] = [
    {
      name: 'a flag on a continuation line of ExecStart= itself (EKS AL2)',
      files: { '/etc/systemd/system/kubelet.service': kubeletFixture('eks-al2-kubelet.service'), '/etc/kubernetes/kubelet/kubelet-config.json': kubeletFixture('config.json') },
      path: '/etc/systemd/system/kubelet.service',
      reason: /^line 12: kubelet's ExecStart= gives --container-runtime-endpoint itself, and install does not edit unit files; remove it there, set containerRuntimeEndpoint in kubelet's config file instead .*then run install again$/,
    },
    {
      name: 'the underscore spelling in ExecStart=, named as written',
      files: { '/usr/lib/systemd/system/kubelet.service': '[Service]\nExecStart=/usr/bin/kubelet --image_service_endpoint=unix:///run/img.sock\n' },
      path: '/usr/lib/systemd/system/kubelet.service',
      reason: /^line 2: kubelet's ExecStart= gives --image_service_endpoint itself.*set imageServiceEndpoint in kubelet's config file/,
    },
    {
      name: 'a variable ExecStart= expands, set by an Environment= line of a drop-in',
      files: {
        '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf': kubeletFixture('10-kubeadm.conf'),
        '/etc/kubernetes/kubelet/config.yaml': kubeletFixture('kubeadm-1.33-config.yaml'),
        '/etc/systemd/system/kubelet.service.d/20-cri.conf': '[Service]\n# the runtime\nEnvironment="KUBELET_EXTRA_ARGS=--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n',
      },
      path: '/etc/systemd/system/kubelet.service.d/20-cri.conf',
      reason: /^line 3: Environment= sets KUBELET_EXTRA_ARGS, which kubelet's ExecStart= expands, with --container-runtime-endpoint, and install does not edit unit files/,
    },
    {
      name: 'a flag whose value is in the next variable: no one variable can be edited',
      files: {
        '/etc/systemd/system/kubelet.service': '[Service]\nEnvironmentFile=/etc/kubelet.env\nExecStart=/usr/bin/kubelet $A $B\n',
        '/etc/kubelet.env': 'A="--v=2 --container-runtime-endpoint"\nB="unix:///run/crio/crio.sock --max-pods=10"\n',
      },
      path: '/etc/kubelet.env',
      reason: /^line 1: A ends with --container-runtime-endpoint, and its value is in the next variable of kubelet's command line; write it as --container-runtime-endpoint=VALUE in one variable/,
    },
  ];
  for (const testCase of REFUSED) {
    it(testCase.name, () => {
      const node = new FakeNode();
      for (const [path, text] of Object.entries(testCase.files)) node.put(path, text);
      const before = node.snapshot();
      assert.throws(
        () => readKubeletSettings(new NodeRoot(node.root, false), undefined),
        (error: unknown) => error instanceof InstallError && error.path === testCase.path && testCase.reason.test(error.reason),
      );
      assert.deepEqual(node.snapshot(), before);
    });
  }

  it("with uneditableFlags 'report' (uninstall), such a flag counts for where kubelet points", () => {
    const node = new FakeNode().put('/etc/systemd/system/kubelet.service', kubeletFixture('eks-al2-kubelet.service')).put('/etc/kubernetes/kubelet/kubelet-config.json', kubeletFixture('config.json'));
    const settings = readKubeletSettings(new NodeRoot(node.root, false), undefined, { uneditableFlags: 'report' });
    assert.equal(settings.configFile, '/etc/kubernetes/kubelet/kubelet-config.json');
    assert.equal(settings.commandLineFrom, 'ExecStart= in /etc/systemd/system/kubelet.service line 9');
    assert.deepEqual(
      settings.fixedPlaces.map((place) => `${place.file}:${place.line} ${place.flag}=${place.value}`),
      ['/etc/systemd/system/kubelet.service:12 --container-runtime-endpoint=unix:///run/containerd/containerd.sock'],
    );
    assert.equal(settings.runtime.source, '--container-runtime-endpoint in /etc/systemd/system/kubelet.service line 12 (ExecStart=)');
    assert.ok(settings.places.every((place) => place.file !== '/etc/systemd/system/kubelet.service'), 'install never plans an edit of a unit file');
  });
});

describe("kubelet's settings: the files kubelet's command line reads flags from", () => {
  it("kubespray: each variable of kubelet.env that ExecStart= expands, in command-line order; a file the unit does not read is not kubelet's", () => {
    const node = new FakeNode()
      .put('/etc/systemd/system/kubelet.service', kubeletFixture('kubespray-kubelet.service'))
      .put('/etc/kubernetes/kubelet.env', kubeletFixture('kubespray-kubelet.env'))
      .put('/etc/kubernetes/kubelet-config.yaml', kubeletFixture('kubeadm-1.25-config.yaml'))
      .put('/etc/default/kubelet', 'KUBELET_EXTRA_ARGS=\n');
    const settings = readKubeletSettings(new NodeRoot(node.root, false), undefined);
    assert.deepEqual(
      settings.flagFiles.map((file) => `${file.path} ${file.variable}`),
      ['KUBE_LOGTOSTDERR', 'KUBE_LOG_LEVEL', 'KUBELET_ADDRESS', 'KUBELET_ARGS', 'KUBELET_NETWORK_PLUGIN', 'KUBELET_CLOUDPROVIDER'].map((variable) => `/etc/kubernetes/kubelet.env ${variable}`),
    );
    assert.equal(settings.configFileFrom, '--config in /etc/kubernetes/kubelet.env');
  });

  it("kubeadm's drop-in, with KUBELET_EXTRA_ARGS set nowhere: /etc/default/kubelet, which the drop-in reads, can take a flag", () => {
    const node = new FakeNode().put('/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf', kubeletFixture('10-kubeadm.conf')).put('/etc/default/kubelet', '# nothing yet\n');
    node.put('/etc/kubernetes/kubelet/config.yaml', kubeletFixture('kubeadm-1.33-config.yaml'));
    const settings = readKubeletSettings(new NodeRoot(node.root, false), undefined);
    assert.deepEqual(settings.flagFiles, [{ path: '/etc/default/kubelet', variable: 'KUBELET_EXTRA_ARGS' }]);
    assert.equal(settings.commandLineFrom, 'ExecStart= in /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf line 10');
  });
});

describe("systemd's unit syntax, as far as kubelet's command line needs it", () => {
  it('joins continuation lines, skips a comment inside them, and keeps the line each word came from', () => {
    const text = ['[Unit]', 'ExecStart=/not/the/service', '[Service]', 'ExecStart=/usr/bin/kubelet \\', '  # a comment in the middle', '  --v=2 \\', '  "--node-labels=a=b c"', 'Environment=PATH=/x\\\\'].join('\n');
    const settings = serviceSettings(text, '/u');
    assert.deepEqual(
      settings.map((setting) => `${setting.key}=${setting.value}`),
      ['ExecStart=/usr/bin/kubelet    --v=2    "--node-labels=a=b c"', 'Environment=PATH=/x\\\\'],
    );
    const execStart = settings[0];
    assert.ok(execStart !== undefined);
    const words = unitWords(execStart.value) ?? [];
    assert.deepEqual(
      words.map((word) => `${word.text}@${lineOf(execStart, word.offset)}`),
      ['/usr/bin/kubelet@4', '--v=2@6', '--node-labels=a=b c@7'],
    );
  });

  it('a quote left open is no value at all', () => {
    assert.equal(unitWords('/usr/bin/kubelet "--v=2'), undefined);
  });
});
