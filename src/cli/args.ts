import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfigOverrides } from '../config/load.js';
import { SYSTEMD_MODES, type InstallOptions, type SystemdMode } from '../install/install-options.js';
import type { FlightShowOptions } from './flight-show.js';
import { parseDuration, type TailOptions } from './tail.js';
import type { TopOptions } from './top.js';
import { parsePodName } from './why.js';

export const USAGE = `usage: criscope serve [options]
       criscope policy check [options]   report what the policy would deny among the
                                         runtime's current pods and containers
       criscope install [install options]    install criscope as a systemd service and
                                         point kubelet at it
       criscope uninstall [install options]  point kubelet back at the runtime and remove
                                         the service
       criscope tail [tail options]      print the calls a running criscope relays, one
                                         line each, as they finish
       criscope flight show FILE [filters]  print a flight dump (SIGUSR1 makes one)
       criscope why NAMESPACE/NAME       a pod's calls from the flight recorder, and
                                         where it stands
       criscope top [--once]             calls per method over the last minute, calls in
                                         flight and pods starting, redrawn each second

  --config FILE             YAML config file (flags override it)
  --listen ENDPOINT         socket kubelet connects to (default unix:///run/criscope/criscope.sock)
  --runtime-endpoint EP     the runtime's socket (default: the first of containerd's and CRI-O's
                            well-known sockets that answers)
  --image-endpoint EP       the image service's socket, when the runtime splits it out
  --image-listen ENDPOINT   socket for kubelet's --image-service-endpoint when --image-endpoint
                            is set (default: criscope-image.sock beside --listen)
  --http-listen HOST:PORT   /healthz, /readyz and /metrics (default 127.0.0.1:9810)
  --max-message-bytes N     largest gRPC message expected (default 16777216)
  --max-kept-bytes-per-connection N
                            most one connection keeps at once of messages kept for decoding
                            (default 33554432, or --max-message-bytes when larger)
  --policy FILE             policy file: checked before calls reach the runtime; reloaded on
                            change and on SIGHUP
  --log-level LEVEL         fatal, error, warn, info, debug, trace or silent (default info)
  -h, --help                this text

install options:
  --root DIR                the node's root file system (default /; the installer DaemonSet
                            mounts the host at /host)
  --kubelet-config FILE     kubelet's config file, under --root (default: found from kubelet's
                            --config flag, else /var/lib/kubelet/config.yaml)
  --systemd MODE            host: run systemctl (the default when --root is /); nsenter: run it
                            in PID 1's namespaces (from a pod with hostPID); none: only change
                            files and print the systemctl commands (the default otherwise)
  --binary FILE             the criscope executable to install (default: this one)
  --env-file FILE           install only: the environment file of criscope.service
                            (/etc/default/criscope), a file of this machine, not under --root;
                            it replaces the node's, and criscope restarts when it changed
                            (default: the node's is kept; the packaged one when it has none)
  --wait-seconds N          how long install waits for criscope to answer before it moves
                            kubelet (default 30)
  --dry-run                 print what would change, change nothing
  --version                 criscope's version

tail options (several --pod, --namespace or --method match any of them):
  --pod NAMESPACE/NAME      only this pod's calls (globs: 'default/web-*')
  --namespace NAMESPACE     only calls of pods in this namespace (globs)
  --method GLOB             only these methods ('*Container*')
  --errors                  only calls that did not end OK
  --denied                  only calls policy denied
  --slower-than DURATION    only calls slower than this (200ms, 2s)
  --runtime, --image        only the runtime service's, or the image service's, calls
  --json                    JSON lines (the admin API's shape, version 1) for scripts
  --since DURATION          start this far back, from criscope's flight recorder (10m)
  --no-follow               stop at now instead of following new calls
  --admin-socket PATH       criscope's admin socket (default: admin.sock beside --listen,
                            /run/criscope/admin.sock on a node)

top keys: c, p, e, f, n sort by calls/s, p99, errors/s, calls in flight, name; s the next
  sort; q quits. --once prints one plain snapshot (as does a run that is not on a terminal).

flight show FILE [filters]: a flight dump (flightRecorder.dumpDir, /var/lib/criscope/flight)
  read back in tail's format, with tail's filters and --json
`;

export type Command =
  | { readonly kind: 'serve'; readonly configFile: string | undefined; readonly overrides: ConfigOverrides }
  | { readonly kind: 'policy-check'; readonly configFile: string | undefined; readonly overrides: ConfigOverrides }
  | { readonly kind: 'install'; readonly options: InstallOptions }
  | { readonly kind: 'uninstall'; readonly options: InstallOptions }
  | { readonly kind: 'tail'; readonly configFile: string | undefined; readonly overrides: ConfigOverrides; readonly options: TailOptions }
  | { readonly kind: 'flight-show'; readonly path: string; readonly options: FlightShowOptions }
  | { readonly kind: 'top'; readonly configFile: string | undefined; readonly overrides: ConfigOverrides; readonly options: TopOptions }
  | { readonly kind: 'why'; readonly configFile: string | undefined; readonly overrides: ConfigOverrides; readonly pod: { readonly namespace: string; readonly name: string } }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' };


/** Parses argv (without node and the script); throws a TypeError naming the bad argument. */
export function parseCommand(argv: readonly string[]): Command {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      'runtime-endpoint': { type: 'string' },
      'image-endpoint': { type: 'string' },
      'image-listen': { type: 'string' },
      'http-listen': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'max-kept-bytes-per-connection': { type: 'string' },
      policy: { type: 'string' },
      'log-level': { type: 'string' },
      root: { type: 'string' },
      'kubelet-config': { type: 'string' },
      systemd: { type: 'string' },
      binary: { type: 'string' },
      'env-file': { type: 'string' },
      'wait-seconds': { type: 'string' },
      'dry-run': { type: 'boolean' },
      pod: { type: 'string', multiple: true },
      namespace: { type: 'string', multiple: true },
      method: { type: 'string', multiple: true },
      errors: { type: 'boolean' },
      denied: { type: 'boolean' },
      'slower-than': { type: 'string' },
      runtime: { type: 'boolean' },
      image: { type: 'boolean' },
      json: { type: 'boolean' },
      since: { type: 'string' },
      'no-follow': { type: 'boolean' },
      'admin-socket': { type: 'string' },
      once: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const [command, ...extra] = positionals;
  if (command === 'install' || command === 'uninstall') {
    if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
    if (command === 'uninstall' && values['env-file'] !== undefined) throw new TypeError('--env-file is for install only: uninstall keeps /etc/default/criscope');
    return { kind: command, options: installOptions(values) };
  }
  if (command === 'tail') {
    if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
    const since = values.since;
    return {
      kind: 'tail',
      configFile: values.config,
      overrides: { listen: values.listen, adminSocket: values['admin-socket'] },
      options: {
        ...filterOptions(values),
        sinceMs: since === undefined ? undefined : parseDuration(since, '--since'),
        follow: values['no-follow'] !== true,
      },
    };
  }
  if (command === 'top') {
    if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
    return { kind: 'top', configFile: values.config, overrides: { listen: values.listen, adminSocket: values['admin-socket'] }, options: { once: values.once === true } };
  }
  if (command === 'why') {
    if (extra.length > 1) throw new TypeError(`unexpected argument "${extra[1]}"`);
    return { kind: 'why', configFile: values.config, overrides: { listen: values.listen, adminSocket: values['admin-socket'] }, pod: parsePodName(extra[0]) };
  }
  if (command === 'flight') {
    const [subcommand, path, ...rest] = extra;
    if (subcommand !== 'show') throw new TypeError(subcommand === undefined ? 'missing flight subcommand (show FILE)' : `unknown flight subcommand "${subcommand}"`);
    if (path === undefined) throw new TypeError('flight show needs the dump file to read');
    if (rest.length > 0) throw new TypeError(`unexpected argument "${rest[0]}"`);
    return { kind: 'flight-show', path, options: filterOptions(values) };
  }
  let kind: 'serve' | 'policy-check';
  if (command === 'serve') kind = 'serve';
  else if (command === 'policy' && extra[0] === 'check') {
    kind = 'policy-check';
    extra.shift();
  } else if (command === 'policy') throw new TypeError(extra[0] === undefined ? 'missing policy subcommand (check)' : `unknown policy subcommand "${extra[0]}"`);
  else throw new TypeError(command === undefined ? 'missing command' : `unknown command "${command}"`);
  if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
  const maxMessageBytes = values['max-message-bytes'];
  const maxKeptBytesPerConnection = values['max-kept-bytes-per-connection'];
  return {
    kind,
    configFile: values.config,
    overrides: {
      listen: values.listen,
      runtimeEndpoint: values['runtime-endpoint'],
      imageEndpoint: values['image-endpoint'],
      imageListen: values['image-listen'],
      httpListen: values['http-listen'],
      maxMessageBytes: maxMessageBytes === undefined ? undefined : Number(maxMessageBytes),
      maxKeptBytesPerConnection: maxKeptBytesPerConnection === undefined ? undefined : Number(maxKeptBytesPerConnection),
      policyFile: values.policy,
      logLevel: values['log-level'],
      adminSocket: values['admin-socket'],
    },
  };
}

interface FilterFlags {
  readonly pod?: string[] | undefined;
  readonly namespace?: string[] | undefined;
  readonly method?: string[] | undefined;
  readonly errors?: boolean | undefined;
  readonly denied?: boolean | undefined;
  readonly 'slower-than'?: string | undefined;
  readonly runtime?: boolean | undefined;
  readonly image?: boolean | undefined;
  readonly json?: boolean | undefined;
}

/** tail's filters and --json, which `flight show` takes too. */
function filterOptions(values: FilterFlags): Omit<TailOptions, 'sinceMs' | 'follow'> {
  if (values.runtime === true && values.image === true) throw new TypeError('--runtime and --image exclude each other');
  const slowerThan = values['slower-than'];
  return {
    pods: values.pod ?? [],
    namespaces: values.namespace ?? [],
    methods: values.method ?? [],
    errors: values.errors === true,
    denied: values.denied === true,
    slowerThanMs: slowerThan === undefined ? undefined : parseDuration(slowerThan, '--slower-than'),
    service: values.runtime === true ? 'runtime' : values.image === true ? 'image' : undefined,
    json: values.json === true,
  };
}

interface InstallFlags {
  readonly root?: string | undefined;
  readonly 'kubelet-config'?: string | undefined;
  readonly systemd?: string | undefined;
  readonly binary?: string | undefined;
  readonly 'env-file'?: string | undefined;
  readonly 'wait-seconds'?: string | undefined;
  readonly 'dry-run'?: boolean | undefined;
}

function installOptions(values: InstallFlags): InstallOptions {
  const root = resolve(values.root ?? '/');
  const kubeletConfig = values['kubelet-config'];
  if (kubeletConfig !== undefined && !kubeletConfig.startsWith('/')) throw new TypeError(`--kubelet-config must be an absolute path on the node, got "${kubeletConfig}"`);
  const systemd = values.systemd ?? (root === '/' ? 'host' : 'none');
  if (!(SYSTEMD_MODES as readonly string[]).includes(systemd)) throw new TypeError(`--systemd must be host, nsenter or none, got "${systemd}"`);
  const waitSeconds = Number(values['wait-seconds'] ?? '30');
  if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) throw new TypeError(`--wait-seconds must be a positive number, got "${values['wait-seconds']}"`);
  return {
    root,
    kubeletConfig,
    systemd: systemd as SystemdMode,
    binary: values.binary,
    envFile: values['env-file'] === undefined ? undefined : resolve(values['env-file']),
    waitSeconds,
    dryRun: values['dry-run'] === true,
  };
}
