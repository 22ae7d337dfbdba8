// The Kubernetes manifests and the Prometheus scrape config, checked as an operator would before
// applying them: what the installer runs is what criscope's own parser accepts, what it mounts
// is the host's root, the node's environment file it writes makes criscope listen where the
// probes and Prometheus look, and the Service, ServiceMonitor and scrape config all point there.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseCommand } from '../../src/cli/args.js';
import { loadConfig } from '../../src/config/load.js';
import {
  findContainer,
  findManifest,
  isValidNodeName,
  nodeAffinityAdmits,
  parseManifests,
  readManifests,
  resolvePort,
  toleratesEveryTaint,
  volumeAt,
  type ConfigMap,
  type Container,
  type DaemonSet,
  type Job,
  type PodSpec,
  type Service,
  type ServiceMonitor,
} from '../support/kubernetes-manifests.js';
import { runPromtool } from '../support/prometheus.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const projectFile = (path: string): string => join(PROJECT_ROOT, path);
const INSTALLER = projectFile('config/kubernetes/criscope-installer.yaml');
const UNINSTALL_JOB = projectFile('config/kubernetes/criscope-uninstall-job.yaml');
const SERVICE_MONITOR = projectFile('config/kubernetes/criscope-servicemonitor.yaml');
const SCRAPE_CONFIG = projectFile('config/prometheus/criscope-scrape.yaml');
const SERVICE_UNIT = projectFile('config/systemd/criscope.service');
/** What `criscope install` writes to /etc/criscope/criscope.yaml (only runtimeEndpoint changes). */
const NODE_CONFIG = projectFile('config/criscope.yaml');
const IMAGE_REPOSITORY = 'ghcr.io/criscope/criscope';

const installer = readManifests(INSTALLER);
const daemonSet = findManifest<DaemonSet>(installer, 'DaemonSet', 'criscope-installer');
const pod: PodSpec = daemonSet.spec.template.spec;
const service = findManifest<Service>(installer, 'Service');
const packageVersion = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;

const installContainer = (): Container => findContainer(pod.initContainers, 'install');
const envContainer = (): Container => findContainer(pod.initContainers, 'node-env');
const mainContainer = (): Container => {
  const [container] = pod.containers;
  assert.ok(container !== undefined && pod.containers.length === 1, 'one container stays');
  return container;
};

/** The value of one `Key=` line of a unit file's section (the last one wins, as in systemd). */
function unitSetting(unitText: string, key: string): string {
  const lines = unitText.split('\n').filter((line) => line.startsWith(`${key}=`));
  const last = lines.at(-1);
  assert.ok(last !== undefined, `the unit sets ${key}=`);
  return last.slice(key.length + 1);
}

/** An EnvironmentFile= as systemd reads it: KEY=VALUE lines, comments, quoted values. */
function parseEnvironmentFile(text: string): Map<string, string> {
  const variables = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    assert.ok(match !== null, `an environment file line systemd reads: ${line}`);
    variables.set(match[1] ?? '', (match[2] ?? '').replace(/^"(.*)"$|^'(.*)'$/, '$1$2'));
  }
  return variables;
}

/** ExecStart's words with $VAR split on whitespace and ${VAR} kept whole, as systemd expands them. */
function expandExecStart(command: string, environment: ReadonlyMap<string, string>): string[] {
  return command
    .trim()
    .split(/\s+/)
    .flatMap((word) => {
      const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
      if (bare !== null) return (environment.get(bare[1] ?? '') ?? '').split(/\s+/).filter((part) => part !== '');
      return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_whole, name: string) => environment.get(name) ?? '')];
    });
}

function envValue(container: Container, name: string): string {
  const variable = container.env?.find((candidate) => candidate.name === name);
  assert.ok(variable?.value !== undefined, `${container.name} sets ${name}`);
  return variable.value;
}

interface NodeEnvRun {
  readonly status: number | null;
  readonly output: string;
  /** The systemctl commands it ran, one line each. */
  readonly systemctl: readonly string[];
}

/** A stand-in for the host's systemctl: logs each command; is-active answers as told. */
const FAKE_SYSTEMCTL = `#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
if [ "$1" = is-active ]; then exit "$IS_ACTIVE_STATUS"; fi
`;

/**
 * Runs the node-env init container's command as the container would, with the host's root,
 * the ConfigMap's file and systemctl stand-ins in a temporary directory, for a node named
 * worker-1 at 192.0.2.10.
 */
function runNodeEnv(hostRoot: string, template: string | undefined, criscope: 'active' | 'inactive' = 'inactive'): NodeEnvRun {
  const container = envContainer();
  const [program, ...programArgs] = [...(container.command ?? []), ...(container.args ?? [])];
  assert.ok(program !== undefined, 'node-env has a command');
  // The volume the pod mounts there (hostPath /etc/default, DirectoryOrCreate).
  mkdirSync(join(hostRoot, 'etc/default'), { recursive: true });
  const work = join(hostRoot, '..');
  const templateFile = join(work, 'criscope.env');
  if (template !== undefined) writeFileSync(templateFile, template);
  const systemctl = join(work, 'systemctl');
  writeFileSync(systemctl, FAKE_SYSTEMCTL, { mode: 0o755 });
  const log = join(work, 'systemctl.log');
  writeFileSync(log, '');
  const result = spawnSync(program, programArgs, {
    encoding: 'utf8',
    env: {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      HOST_ROOT: hostRoot,
      ENV_TEMPLATE: templateFile,
      SYSTEMCTL: systemctl,
      NODE_NAME: 'worker-1',
      NODE_IP: '192.0.2.10',
      SYSTEMCTL_LOG: log,
      IS_ACTIVE_STATUS: criscope === 'active' ? '0' : '3',
    },
  });
  const systemctlLines = readFileSync(log, 'utf8').split('\n').filter((line) => line !== '');
  return { status: result.status, output: `${result.stdout}${result.stderr}`, systemctl: systemctlLines };
}

function configMapTemplate(): string {
  const container = envContainer();
  const templatePath = envValue(container, 'ENV_TEMPLATE');
  const volume = volumeAt(pod, container, posix.dirname(templatePath));
  assert.ok(volume.configMap !== undefined, `${posix.dirname(templatePath)} is a ConfigMap`);
  const configMap = findManifest<ConfigMap>(installer, 'ConfigMap', volume.configMap.name);
  const text = configMap.data[posix.basename(templatePath)];
  assert.ok(text !== undefined, `the ConfigMap ${configMap.metadata.name ?? ''} has ${posix.basename(templatePath)}`);
  return text;
}

function withHostRoot<T>(use: (hostRoot: string) => T): T {
  const directory = mkdtempSync(join(tmpdir(), 'criscope-installer-'));
  try {
    return use(join(directory, 'host'));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The node's /etc/default/criscope as the installer leaves it, and the path it is at (from criscope.service). */
function nodeEnvironmentFile(): { path: string; text: string } {
  const unitPath = unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'EnvironmentFile').replace(/^-/, '');
  return withHostRoot((hostRoot) => {
    const run = runNodeEnv(hostRoot, configMapTemplate());
    assert.equal(run.status, 0, run.output);
    return { path: unitPath, text: readFileSync(join(hostRoot, unitPath), 'utf8') };
  });
}

describe('the installer DaemonSet (config/kubernetes/criscope-installer.yaml)', () => {
  it('runs `criscope install --root /host --systemd nsenter`, as criscope itself parses it, through the image entrypoint', () => {
    const container = installContainer();
    assert.equal(container.command, undefined, "no command: the image's ENTRYPOINT, /usr/local/bin/criscope, runs");
    assert.deepEqual(parseCommand(container.args ?? []), {
      kind: 'install',
      options: { root: '/host', kubeletConfig: undefined, systemd: 'nsenter', binary: undefined, waitSeconds: 30, dryRun: false },
    });
  });

  it("mounts the host's / at /host, writable, for install", () => {
    const container = installContainer();
    const volume = volumeAt(pod, container, '/host');
    assert.equal(volume.hostPath?.path, '/', '/host is the hostPath /');
    assert.equal(volume.hostPath.type, 'Directory');
    assert.notEqual(container.volumeMounts?.find((mount) => mount.mountPath === '/host')?.readOnly, true);
  });

  it("gives node-env the host's directory of the environment file, at its place under /host, and nothing more of the host", () => {
    const container = envContainer();
    const hostRoot = envValue(container, 'HOST_ROOT');
    assert.equal(hostRoot, '/host');
    const unitPath = unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'EnvironmentFile').replace(/^-/, '');
    const hostMounts = (container.volumeMounts ?? []).filter((mount) => pod.volumes?.find((volume) => volume.name === mount.name)?.hostPath !== undefined);
    assert.equal(hostMounts.length, 1, 'one host directory');
    const [mount] = hostMounts;
    assert.ok(mount !== undefined);
    assert.equal(mount.mountPath, posix.join(hostRoot, posix.dirname(unitPath)));
    assert.equal(volumeAt(pod, container, mount.mountPath).hostPath?.path, posix.dirname(unitPath));
    assert.notEqual(mount.readOnly, true);
  });

  it("shares the host's PID namespace and runs the init containers as privileged root, so that nsenter reaches PID 1's systemd", () => {
    assert.equal(pod.hostPID, true);
    for (const container of [envContainer(), installContainer()]) {
      assert.equal(container.securityContext?.privileged, true, container.name);
      assert.equal(container.securityContext.runAsUser, 0, `${container.name}: root, as the image runs as a non-root user by default`);
    }
  });

  it('writes the node environment file criscope.service reads, with the node name and IP, and restarts a running criscope when it changed', () => {
    const unitPath = unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'EnvironmentFile').replace(/^-/, '');
    assert.equal(unitPath, '/etc/default/criscope');
    const fieldPaths = Object.fromEntries((envContainer().env ?? []).map((variable) => [variable.name, variable.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(fieldPaths['NODE_NAME'], 'spec.nodeName');
    assert.equal(fieldPaths['NODE_IP'], 'status.hostIP');
    assert.equal(envValue(envContainer(), 'SYSTEMCTL'), 'nsenter -t 1 -m -u -i -n -p -- systemctl', "the host's systemctl, as install --systemd nsenter runs it");
    withHostRoot((hostRoot) => {
      const template = configMapTemplate();
      const written = join(hostRoot, unitPath);

      // A new node: the file is written; criscope is not installed yet, so nothing restarts.
      const first = runNodeEnv(hostRoot, template, 'inactive');
      assert.equal(first.status, 0, first.output);
      assert.match(first.output, /wrote \/etc\/default\/criscope/);
      assert.deepEqual(first.systemctl, ['is-active --quiet criscope.service']);
      const text = readFileSync(written, 'utf8');
      assert.ok(!text.includes('@'), `no placeholder left:\n${text}`);
      assert.equal(parseEnvironmentFile(text).get('NODE_NAME'), 'worker-1');
      assert.match(text, /^#OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/192\.0\.2\.10:4317$/m);
      // It may carry OTLP headers with credentials.
      assert.equal(statSync(written).mode & 0o777, 0o600);

      // The pod starts again with the same ConfigMap: nothing changes, criscope keeps running.
      const second = runNodeEnv(hostRoot, template, 'active');
      assert.equal(second.status, 0, second.output);
      assert.match(second.output, /unchanged: \/etc\/default\/criscope/);
      assert.deepEqual(second.systemctl, []);
      assert.equal(readFileSync(written, 'utf8'), text);

      // The ConfigMap changed (tracing turned on): the file is rewritten and the running criscope restarted to read it.
      const tracing = template.replace('#OTEL_EXPORTER_OTLP_ENDPOINT=', 'OTEL_EXPORTER_OTLP_ENDPOINT=');
      assert.notEqual(tracing, template);
      const third = runNodeEnv(hostRoot, tracing, 'active');
      assert.equal(third.status, 0, third.output);
      assert.deepEqual(third.systemctl, ['is-active --quiet criscope.service', 'restart criscope.service']);
      assert.equal(parseEnvironmentFile(readFileSync(written, 'utf8')).get('OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://192.0.2.10:4317');

      // Without the ConfigMap's file it fails (the pod does not go on to install) and leaves the file as it was.
      const before = readFileSync(written, 'utf8');
      rmSync(join(hostRoot, '..', 'criscope.env'));
      const noTemplate = runNodeEnv(hostRoot, undefined, 'active');
      assert.notEqual(noTemplate.status, 0, noTemplate.output);
      assert.deepEqual(noTemplate.systemctl, []);
      assert.equal(readFileSync(written, 'utf8'), before);
    });
  });

  it('probes the host service on the port criscope listens on, at an address the node IP reaches', () => {
    assert.equal(pod.hostNetwork, true, "the pod's IP, which the probes use, is the node's");
    const environmentFile = nodeEnvironmentFile();
    const environment = parseEnvironmentFile(environmentFile.text);
    const execStart = expandExecStart(unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'ExecStart'), environment);
    assert.equal(execStart[0], '/usr/local/bin/criscope');
    const command = parseCommand(execStart.slice(1));
    assert.equal(command.kind, 'serve');
    assert.ok(command.kind === 'serve');
    assert.equal(command.configFile, '/etc/criscope/criscope.yaml');
    const config = loadConfig(NODE_CONFIG, command.overrides);
    const separator = config.httpListen.lastIndexOf(':');
    const [host, port] = [config.httpListen.slice(0, separator), Number(config.httpListen.slice(separator + 1))];
    assert.ok(['0.0.0.0', '[::]'].includes(host), `criscope listens on every address (${config.httpListen}), not only loopback`);
    const container = mainContainer();
    const readiness = container.readinessProbe?.httpGet;
    const liveness = container.livenessProbe?.httpGet;
    assert.ok(readiness !== undefined && liveness !== undefined, 'HTTP readiness and liveness probes');
    assert.deepEqual([readiness.path, resolvePort(readiness.port, container), readiness.host], ['/readyz', port, undefined]);
    assert.deepEqual([liveness.path, resolvePort(liveness.port, container), liveness.host], ['/healthz', port, undefined]);
  });

  it('keeps a container that only watches: not root, not privileged, never uninstalling', () => {
    const container = mainContainer();
    assert.deepEqual(container.command, ['sleep', 'infinity']);
    assert.equal(container.securityContext?.runAsNonRoot, true);
    assert.notEqual(container.securityContext.privileged, true);
    assert.equal(container.volumeMounts, undefined, 'it mounts nothing of the host');
    const text = readFileSync(INSTALLER, 'utf8');
    assert.ok(!/preStop/.test(text), 'no preStop hook: deleting the DaemonSet must leave criscope in place');
    for (const each of [...(pod.initContainers ?? []), ...pod.containers]) {
      assert.ok(!(each.args ?? []).includes('uninstall') && !(each.command ?? []).includes('uninstall'), `${each.name} does not uninstall`);
    }
  });

  it('runs on every node whatever its taints, except one labelled criscope/install=false', () => {
    assert.ok(toleratesEveryTaint(pod.tolerations), 'a toleration with operator Exists and no key or effect');
    const linux = { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': 'worker-1' };
    assert.equal(nodeAffinityAdmits(pod, linux), true);
    assert.equal(nodeAffinityAdmits(pod, { ...linux, 'criscope/install': 'true' }), true);
    assert.equal(nodeAffinityAdmits(pod, { ...linux, 'criscope/install': 'false' }), false);
    assert.equal(nodeAffinityAdmits(pod, { 'kubernetes.io/os': 'windows' }), false);
  });

  it('asks for CPU and memory, and caps memory, for every container', () => {
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      assert.ok(container.resources?.requests?.['cpu'] !== undefined, `${container.name} requests cpu`);
      assert.ok(container.resources.requests['memory'] !== undefined, `${container.name} requests memory`);
      assert.ok(container.resources.limits?.['memory'] !== undefined, `${container.name} limits memory`);
    }
  });

  it("selects its own pods, and runs this checkout's image everywhere", () => {
    const podLabels = daemonSet.spec.template.metadata.labels ?? {};
    for (const [key, value] of Object.entries(daemonSet.spec.selector.matchLabels)) assert.equal(podLabels[key], value, `pod label ${key}`);
    const job = findManifest<Job>(readManifests(UNINSTALL_JOB), 'Job');
    const containers = [...(pod.initContainers ?? []), ...pod.containers, ...job.spec.template.spec.containers];
    for (const container of containers) assert.equal(container.image, `${IMAGE_REPOSITORY}:${packageVersion}`, container.name);
    assert.equal(pod.serviceAccountName, findManifest(installer, 'ServiceAccount').metadata.name);
    for (const manifest of installer.filter((each) => each.kind !== 'Namespace')) {
      assert.equal(manifest.metadata.namespace, findManifest(installer, 'Namespace').metadata.name, `${manifest.kind} ${manifest.metadata.name ?? ''}`);
    }
  });
});

describe('the metrics Service', () => {
  it("selects the installer's pods, ready or not, and exposes their port as metrics", () => {
    const podLabels = daemonSet.spec.template.metadata.labels ?? {};
    assert.ok(Object.keys(service.spec.selector).length > 0);
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(podLabels[key], value, `pod label ${key}`);
    assert.equal(service.spec.clusterIP, 'None', 'headless: one endpoint per node');
    assert.equal(service.spec.publishNotReadyAddresses, true, 'a node whose runtime is down is still scraped');
    const [port] = service.spec.ports;
    assert.ok(port !== undefined && service.spec.ports.length === 1);
    assert.equal(port.name, 'metrics');
    const target = resolvePort(port.targetPort ?? port.port, mainContainer());
    const listen = parseEnvironmentFile(nodeEnvironmentFile().text).get('CRISCOPE_OPTS') ?? '';
    assert.match(listen, new RegExp(`--http-listen \\S+:${target}\\b`), 'the port criscope listens on');
    assert.equal(port.port, target);
  });
});

describe('the uninstall Job (config/kubernetes/criscope-uninstall-job.yaml)', () => {
  const text = readFileSync(UNINSTALL_JOB, 'utf8');

  it('runs `criscope uninstall --root /host --systemd nsenter` as privileged root with the host mounted', () => {
    const spec = findManifest<Job>(parseManifests(text, UNINSTALL_JOB), 'Job').spec.template.spec;
    const container = findContainer(spec.containers, 'uninstall');
    assert.deepEqual(parseCommand(container.args ?? []), {
      kind: 'uninstall',
      options: { root: '/host', kubeletConfig: undefined, systemd: 'nsenter', binary: undefined, waitSeconds: 30, dryRun: false },
    });
    assert.equal(spec.hostPID, true);
    assert.equal(container.securityContext?.privileged, true);
    assert.equal(container.securityContext.runAsUser, 0);
    assert.equal(volumeAt(spec, container, '/host').hostPath?.path, '/');
    assert.ok(toleratesEveryTaint(spec.tolerations));
  });

  it('is refused unedited, and the documented sed command makes it a Job for one node', () => {
    const unedited = findManifest<Job>(parseManifests(text, UNINSTALL_JOB), 'Job');
    assert.ok(!isValidNodeName(unedited.spec.template.spec.nodeName ?? ''), 'the placeholder is no node name the API server accepts');
    const sed = /^#\s+sed 's\/([^/]+)\/NODE\/' config\/kubernetes\/criscope-uninstall-job\.yaml \| kubectl create -f -$/m.exec(text);
    assert.ok(sed !== null, 'the file documents the sed command');
    // sed without g: the first match on each line.
    const edited = text
      .split('\n')
      .map((line) => line.replace(sed[1] ?? '', 'worker-1'))
      .join('\n');
    const job = findManifest<Job>(parseManifests(edited, 'edited Job'), 'Job');
    assert.equal(job.spec.template.spec.nodeName, 'worker-1');
    assert.ok(job.metadata.generateName !== undefined && job.metadata.name === undefined, 'generateName: one Job per node with kubectl create');
  });
});

describe('the ServiceMonitor (config/kubernetes/criscope-servicemonitor.yaml)', () => {
  it("selects the metrics Service in its namespace and scrapes its metrics port's /metrics", () => {
    const monitor = findManifest<ServiceMonitor>(readManifests(SERVICE_MONITOR), 'ServiceMonitor');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    const namespaces = monitor.spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace];
    assert.ok(namespaces.includes(service.metadata.namespace ?? ''), `namespaceSelector includes ${service.metadata.namespace ?? ''}`);
    const serviceLabels = service.metadata.labels ?? {};
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(serviceLabels[key], value, `Service label ${key}`);
    const otherServices = installer.filter((manifest) => manifest.kind === 'Service' && manifest !== service);
    assert.equal(otherServices.length, 0);
    assert.deepEqual(
      monitor.spec.endpoints.map((endpoint) => [endpoint.port, endpoint.path]),
      [['metrics', '/metrics']],
    );
    assert.ok(service.spec.ports.some((port) => port.name === 'metrics'));
  });
});

describe('the Prometheus scrape config (config/prometheus/criscope-scrape.yaml)', () => {
  it('passes promtool check config', () => {
    const result = runPromtool(['check', 'config', SCRAPE_CONFIG]);
    assert.equal(result.status, 0, result.output);
  });

  it("resolves the metrics Service's DNS name on its port", () => {
    interface ScrapeConfig {
      readonly scrape_configs: readonly {
        readonly job_name: string;
        readonly metrics_path?: string;
        readonly dns_sd_configs?: readonly { readonly names: readonly string[]; readonly type: string; readonly port: number }[];
      }[];
    }
    const config = parseYaml(readFileSync(SCRAPE_CONFIG, 'utf8')) as ScrapeConfig;
    const [job] = config.scrape_configs;
    assert.ok(job !== undefined && config.scrape_configs.length === 1, 'one job');
    assert.equal(job.job_name, 'criscope');
    assert.equal(job.metrics_path, '/metrics');
    const [discovery] = job.dns_sd_configs ?? [];
    assert.ok(discovery !== undefined);
    assert.deepEqual(discovery.names, [`${service.metadata.name ?? ''}.${service.metadata.namespace ?? ''}.svc.cluster.local`]);
    assert.equal(discovery.port, service.spec.ports[0]?.port);
  });
});
