// The Kubernetes manifests and the Prometheus scrape config, checked as an operator would before
// applying them: what the installer runs is what criscope's own parser accepts, what it mounts
// is the host's root (install only), the node's environment file it renders makes criscope
// listen where the probes and Prometheus look and changes only with the pod template, it runs
// only on nodes that opted in, and the Service, ServiceMonitor and scrape config all point there.
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
import { findContainer, findManifest, isValidNodeName, parseManifests, podFitsNode, quantityBytes, readManifests, resolvePort, toleratesEveryTaint, volumeAt, type Container, type DaemonSet, type Job, type PodSpec, type Service, type ServiceMonitor } from '../support/kubernetes-manifests.js';
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
/** install's peak resident memory, measured with the ~100 MB single executable. */
const INSTALL_PEAK_BYTES = 300e6;

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

/** The value that follows a flag in a container's args. */
function argValue(container: Container, flag: string): string {
  const args = container.args ?? [];
  const index = args.indexOf(flag);
  const value = index >= 0 ? args[index + 1] : undefined;
  assert.ok(value !== undefined, `${container.name} passes ${flag} FILE`);
  return value;
}

/** Install and uninstall's options as criscope parses these args, the ones every version of the parser has. */
function parsedInstallOptions(args: readonly string[], kind: 'install' | 'uninstall'): { common: object; all: readonly unknown[] } {
  const command = parseCommand(args);
  assert.equal(command.kind, kind);
  assert.ok(command.kind === 'install' || command.kind === 'uninstall');
  const { root, kubeletConfig, systemd, binary, waitSeconds, dryRun } = command.options;
  return { common: { root, kubeletConfig, systemd, binary, waitSeconds, dryRun }, all: Object.values(command.options) };
}

const NODE_LABELS = { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': 'worker-1' };
/** The label an operator puts on a node to let the installer onto it. */
const OPT_IN_LABEL = 'criscope.io/install';

interface NodeEnvRun {
  readonly status: number | null;
  readonly output: string;
  /** The systemctl and nsenter commands it ran, one line each. */
  readonly hostCommands: readonly string[];
}

/** A stand-in for systemctl and nsenter: logs each command it is asked to run. */
const HOST_COMMAND_STUB = `#!/bin/sh
echo "$(basename "$0") $*" >> "$HOST_COMMAND_LOG"
`;

/**
 * Runs the node-env init container's command as the container would, with its environment
 * (CRISCOPE_ENV as given; ENV_FILE moved into a temporary directory standing for the emptyDir)
 * for a node named worker-1 at 192.0.2.10, and systemctl and nsenter stand-ins first on PATH.
 */
function runNodeEnv(work: string, envFile: string, criscopeEnv: string | undefined): NodeEnvRun {
  const container = envContainer();
  const [program, ...programArgs] = [...(container.command ?? []), ...(container.args ?? [])];
  assert.ok(program !== undefined, 'node-env has a command');
  const stubs = join(work, 'bin');
  mkdirSync(stubs, { recursive: true });
  for (const name of ['systemctl', 'nsenter']) writeFileSync(join(stubs, name), HOST_COMMAND_STUB, { mode: 0o755 });
  const log = join(work, 'host-commands.log');
  writeFileSync(log, '');
  const result = spawnSync(program, programArgs, {
    encoding: 'utf8',
    env: {
      PATH: `${stubs}:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOST_COMMAND_LOG: log,
      ENV_FILE: envFile,
      NODE_NAME: 'worker-1',
      NODE_IP: '192.0.2.10',
      ...(criscopeEnv === undefined ? {} : { CRISCOPE_ENV: criscopeEnv }),
    },
  });
  const hostCommands = readFileSync(log, 'utf8').split('\n').filter((line) => line !== '');
  return { status: result.status, output: `${result.stdout}${result.stderr}`, hostCommands };
}

/** The environment file's text as the pod template carries it, placeholders and all. */
function templateEnv(): string {
  return envValue(envContainer(), 'CRISCOPE_ENV');
}

function withWorkDirectory<T>(use: (work: string) => T): T {
  const directory = mkdtempSync(join(tmpdir(), 'criscope-installer-'));
  try {
    return use(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The environment file node-env renders for worker-1, which install puts at criscope.service's EnvironmentFile=. */
function nodeEnvironmentFile(): { path: string; text: string } {
  const unitPath = unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'EnvironmentFile').replace(/^-/, '');
  return withWorkDirectory((work) => {
    const rendered = join(work, 'criscope.env');
    const run = runNodeEnv(work, rendered, templateEnv());
    assert.equal(run.status, 0, run.output);
    return { path: unitPath, text: readFileSync(rendered, 'utf8') };
  });
}

describe('the installer DaemonSet (config/kubernetes/criscope-installer.yaml)', () => {
  it('runs `criscope install --root /host --systemd nsenter --env-file FILE`, as criscope itself parses it, through the image entrypoint', () => {
    const container = installContainer();
    assert.equal(container.command, undefined, "no command: the image's ENTRYPOINT, /usr/local/bin/criscope, runs");
    const options = parsedInstallOptions(container.args ?? [], 'install');
    assert.deepEqual(options.common, { root: '/host', kubeletConfig: undefined, systemd: 'nsenter', binary: undefined, waitSeconds: 30, dryRun: false });
    const envFile = argValue(container, '--env-file');
    assert.ok(options.all.includes(envFile), `criscope takes --env-file ${envFile} as an option`);
  });

  it("mounts the host's / at /host, writable, for install", () => {
    const container = installContainer();
    const volume = volumeAt(pod, container, '/host');
    assert.equal(volume.hostPath?.path, '/', '/host is the hostPath /');
    assert.equal(volume.hostPath.type, 'Directory');
    assert.notEqual(container.volumeMounts?.find((mount) => mount.mountPath === '/host')?.readOnly, true);
  });

  it("gives install the file node-env writes, in a pod-local volume both mount, outside the host's /", () => {
    const envFile = argValue(installContainer(), '--env-file');
    assert.equal(envValue(envContainer(), 'ENV_FILE'), envFile, 'node-env writes where install reads');
    assert.ok(!envFile.startsWith('/host/') && envFile !== '/host', "in the container's own file system, not the host's");
    const directory = posix.dirname(envFile);
    const installVolume = volumeAt(pod, installContainer(), directory);
    const envVolume = volumeAt(pod, envContainer(), directory);
    assert.equal(installVolume.name, envVolume.name, 'the same volume');
    assert.ok(envVolume.emptyDir !== undefined, `${envVolume.name} is an emptyDir: the pod's own, nothing on the host`);
    assert.notEqual(envContainer().volumeMounts?.find((mount) => mount.mountPath === directory)?.readOnly, true, 'node-env can write it');
  });

  it('keeps node-env off the host: no host volume, no privileges, not root', () => {
    const container = envContainer();
    for (const mount of container.volumeMounts ?? []) {
      const volume = pod.volumes?.find((candidate) => candidate.name === mount.name);
      assert.equal(volume?.hostPath, undefined, `${mount.mountPath} is not a host path`);
    }
    assert.notEqual(container.securityContext?.privileged, true);
    assert.equal(container.securityContext?.runAsNonRoot, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  });

  it("shares the host's PID namespace and runs install as privileged root, so that nsenter reaches PID 1's systemd", () => {
    assert.equal(pod.hostPID, true);
    const container = installContainer();
    assert.equal(container.securityContext?.privileged, true);
    assert.equal(container.securityContext.runAsUser, 0, 'root, as the image runs as a non-root user by default');
  });

  it("carries the node's settings in the pod template itself, so that a change to them is a paced rolling update", () => {
    const container = envContainer();
    const variable = container.env?.find((candidate) => candidate.name === 'CRISCOPE_ENV');
    assert.ok(variable?.value !== undefined && variable.valueFrom === undefined, 'CRISCOPE_ENV is a literal value of the template');
    assert.equal(container.envFrom, undefined);
    for (const each of [...(pod.initContainers ?? []), ...pod.containers]) {
      for (const env of each.env ?? []) {
        assert.equal(env.valueFrom?.configMapKeyRef ?? env.valueFrom?.secretKeyRef, undefined, `${each.name} ${env.name} is read at pod start from outside the template`);
      }
    }
    for (const volume of pod.volumes ?? []) {
      assert.ok(volume.configMap === undefined && volume.secret === undefined && volume.projected === undefined, `${volume.name} would change the pods' settings without a template change`);
    }
    assert.deepEqual(
      installer.filter((manifest) => manifest.kind === 'ConfigMap').map((manifest) => manifest.metadata.name),
      [],
      'no ConfigMap for a pod start to read',
    );
  });

  it('renders the environment file criscope.service reads, with the node name and IP, 0600, and never calls systemctl', () => {
    const fieldPaths = Object.fromEntries((envContainer().env ?? []).map((variable) => [variable.name, variable.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(fieldPaths['NODE_NAME'], 'spec.nodeName');
    assert.equal(fieldPaths['NODE_IP'], 'status.hostIP');
    assert.equal(unitSetting(readFileSync(SERVICE_UNIT, 'utf8'), 'EnvironmentFile').replace(/^-/, ''), '/etc/default/criscope', 'the file install writes --env-file to');
    withWorkDirectory((work) => {
      const rendered = join(work, 'emptydir', 'criscope.env');
      mkdirSync(join(work, 'emptydir'));

      const first = runNodeEnv(work, rendered, templateEnv());
      assert.equal(first.status, 0, first.output);
      assert.deepEqual(first.hostCommands, [], 'install restarts criscope, not node-env');
      const text = readFileSync(rendered, 'utf8');
      assert.ok(!text.includes('@'), `no placeholder left:\n${text}`);
      assert.equal(parseEnvironmentFile(text).get('NODE_NAME'), 'worker-1');
      assert.match(text, /^#OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/192\.0\.2\.10:4317$/m);
      assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'), 'one final newline');
      // It may carry OTLP headers with credentials.
      assert.equal(statSync(rendered).mode & 0o777, 0o600);

      // The same template renders the same file: install then finds nothing changed.
      const again = runNodeEnv(work, rendered, templateEnv());
      assert.equal(again.status, 0, again.output);
      assert.equal(readFileSync(rendered, 'utf8'), text);

      // Tracing turned on in the template: a placeholder in a value is filled in too.
      const tracing = templateEnv().replace('#OTEL_EXPORTER_OTLP_ENDPOINT=', 'OTEL_EXPORTER_OTLP_ENDPOINT=');
      assert.notEqual(tracing, templateEnv());
      const third = runNodeEnv(work, rendered, tracing);
      assert.equal(third.status, 0, third.output);
      assert.equal(parseEnvironmentFile(readFileSync(rendered, 'utf8')).get('OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://192.0.2.10:4317');

      // Without CRISCOPE_ENV it fails (the pod does not go on to install) and leaves the file as it was.
      const before = readFileSync(rendered, 'utf8');
      const missing = runNodeEnv(work, rendered, undefined);
      assert.notEqual(missing.status, 0, missing.output);
      assert.equal(readFileSync(rendered, 'utf8'), before);
      assert.deepEqual(missing.hostCommands, []);
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

  it(`runs only on Linux nodes labelled ${OPT_IN_LABEL}=true, whatever their taints`, () => {
    assert.equal(pod.nodeSelector?.[OPT_IN_LABEL], 'true', 'opt-in through the nodeSelector');
    assert.ok(toleratesEveryTaint(pod.tolerations), 'a toleration with operator Exists and no key or effect');
    assert.equal(podFitsNode(pod, NODE_LABELS), false, 'a node nobody labelled: applying the DaemonSet installs nowhere');
    assert.equal(podFitsNode(pod, { ...NODE_LABELS, [OPT_IN_LABEL]: 'true' }), true);
    assert.equal(podFitsNode(pod, { ...NODE_LABELS, [OPT_IN_LABEL]: 'false' }), false);
    assert.equal(podFitsNode(pod, { 'kubernetes.io/os': 'windows', [OPT_IN_LABEL]: 'true' }), false);
    assert.match(readFileSync(INSTALLER, 'utf8'), new RegExp(`^#\\s+kubectl label node NODE ${OPT_IN_LABEL.replace('.', '\\.')}=true\\b`, 'm'), 'the file says how to opt a node in');
  });

  it('asks for CPU and memory, and caps memory, for every container', () => {
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      assert.ok(container.resources?.requests?.['cpu'] !== undefined, `${container.name} requests cpu`);
      assert.ok(container.resources.requests['memory'] !== undefined, `${container.name} requests memory`);
      assert.ok(container.resources.limits?.['memory'] !== undefined, `${container.name} limits memory`);
    }
  });

  it("lets install's memory peak fit with room to spare", () => {
    const limit = installContainer().resources?.limits?.['memory'];
    assert.ok(limit !== undefined);
    assert.ok(quantityBytes(limit) >= INSTALL_PEAK_BYTES * 1.5, `limit ${limit}: install peaked at ${INSTALL_PEAK_BYTES / 1e6} MB resident`);
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
    assert.deepEqual(parsedInstallOptions(container.args ?? [], 'uninstall').common, {
      root: '/host',
      kubeletConfig: undefined,
      systemd: 'nsenter',
      binary: undefined,
      waitSeconds: 30,
      dryRun: false,
    });
    assert.equal(spec.hostPID, true);
    assert.equal(container.securityContext?.privileged, true);
    assert.equal(container.securityContext.runAsUser, 0);
    assert.equal(volumeAt(spec, container, '/host').hostPath?.path, '/');
    assert.ok(toleratesEveryTaint(spec.tolerations));
  });

  it("first takes away the node's label the installer selects on, so that the installer does not put criscope back", () => {
    const labelRemoval = /^#\s+kubectl label node NODE (\S+)-$/m.exec(text);
    assert.ok(labelRemoval !== null, 'the file documents removing the label');
    assert.equal(labelRemoval[1], OPT_IN_LABEL);
    assert.equal(podFitsNode(pod, { ...NODE_LABELS }), false, 'without it the installer leaves the node alone');
    assert.ok(labelRemoval.index < text.indexOf("sed 's/NODE-NAME/"), 'before the Job is created');
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
