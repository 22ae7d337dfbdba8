import { posix } from 'node:path';
import { InstallError } from '../errors.js';
import { flagOccurrences, lastAssignment, parseEnvFile, tokensOf } from './env-file.js';
import { ENDPOINT_FIELDS, parseKubeletConfig, type EndpointField } from './kubelet-config-edit.js';
import { ENDPOINT_FLAGS, flagsIn, parseFlagsFile } from './kubelet-flags-edit.js';
import { KUBELET_DEFAULT_RUNTIME_ENDPOINT } from './node-layout.js';
import type { NodeRoot } from './node-root.js';

/**
 * Where kubelet gets its runtime and image endpoints on a node, read from the files
 * systemd starts it with, and what they come to: a flag beats the config file, a
 * --config-dir drop-in beats the config file, the last of each kind wins.
 */

/** The environment files kubeadm's drop-in reads, in the order kubelet's command line expands them. */
export const FLAG_FILES: readonly { readonly path: string; readonly variable: string }[] = [
  { path: '/var/lib/kubelet/kubeadm-flags.env', variable: 'KUBELET_KUBEADM_ARGS' },
  { path: '/etc/default/kubelet', variable: 'KUBELET_EXTRA_ARGS' },
  { path: '/etc/sysconfig/kubelet', variable: 'KUBELET_EXTRA_ARGS' },
];

export const DEFAULT_KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';

/** systemd's unit directories, lowest precedence first. */
const UNIT_DIRS = ['/usr/lib/systemd/system', '/lib/systemd/system', '/run/systemd/system', '/etc/systemd/system'];

/** One place that sets an endpoint: a config field or one occurrence of a flag. */
export type EndpointPlace =
  | { readonly kind: 'config-field'; readonly file: string; readonly field: EndpointField; readonly value: string }
  | { readonly kind: 'flag'; readonly file: string; readonly field: EndpointField; readonly variable: string; readonly flag: string; readonly occurrence: number; readonly value: string };

export interface EffectiveEndpoint {
  readonly endpoint: string;
  /** Where it comes from, for messages: "--container-runtime-endpoint in /var/lib/kubelet/kubeadm-flags.env". */
  readonly source: string;
  /** The file that sets it; undefined for kubelet's defaults. */
  readonly file: string | undefined;
}

export interface KubeletSettings {
  /** kubelet's config file, when it has one. */
  readonly configFile: string | undefined;
  /** How the config file was found: "--config in …", "--kubelet-config", "the default path". */
  readonly configFileFrom: string;
  /** Files of kubelet's --config-dir, in the order kubelet applies them. */
  readonly configDropIns: readonly string[];
  /** The flag files that exist, with the variable each holds kubelet's flags in. */
  readonly flagFiles: readonly { readonly path: string; readonly variable: string }[];
  /** Each file read above, as it was. */
  readonly texts: ReadonlyMap<string, string>;
  /** Every place that sets an endpoint, lowest precedence first. */
  readonly places: readonly EndpointPlace[];
  readonly runtime: EffectiveEndpoint;
  readonly image: EffectiveEndpoint;
}

function describe(place: EndpointPlace): string {
  return place.kind === 'flag' ? `${place.flag} in ${place.file}` : `${place.field} in ${place.file}`;
}

/** Reads kubelet's files under the node root; refuses (InstallError naming the file) any it cannot parse. */
export function readKubeletSettings(node: NodeRoot, kubeletConfigOption: string | undefined): KubeletSettings {
  const texts = new Map<string, string>();
  const flagFiles = FLAG_FILES.filter((candidate) => {
    const text = node.readText(candidate.path);
    if (text === undefined) return false;
    texts.set(candidate.path, text);
    parseFlagsFile(text, candidate.path, candidate.variable);
    return true;
  });
  const fromUnits = configFlagsInUnits(node);
  const fromFlagFiles = flagFiles.flatMap((file) => configFlagsInFlagFile(texts.get(file.path) as string, file.path, file.variable));
  const configFlags = [...fromUnits, ...fromFlagFiles];
  const lastOf = (flag: string): { value: string; file: string } | undefined => configFlags.filter((found) => found.flag === flag).at(-1);

  let configFile: string | undefined;
  let configFileFrom: string;
  const configFlag = lastOf('--config');
  if (kubeletConfigOption !== undefined) {
    configFile = kubeletConfigOption;
    configFileFrom = '--kubelet-config';
    if (!node.exists(configFile)) throw new InstallError(configFile, 'no such file (given as --kubelet-config)');
  } else if (configFlag !== undefined) {
    configFile = configFlag.value;
    configFileFrom = `--config in ${configFlag.file}`;
    if (!node.exists(configFile)) throw new InstallError(configFile, `no such file (kubelet's --config in ${configFlag.file})`);
  } else if (node.exists(DEFAULT_KUBELET_CONFIG)) {
    configFile = DEFAULT_KUBELET_CONFIG;
    configFileFrom = 'the default path';
  } else {
    configFileFrom = `none: no --config flag found and no ${DEFAULT_KUBELET_CONFIG}`;
  }

  const configDir = lastOf('--config-dir')?.value;
  const configDropIns = configDir === undefined ? [] : node.list(configDir).filter((name) => name.endsWith('.conf')).map((name) => posix.join(configDir, name));
  const places: EndpointPlace[] = [];
  for (const file of [...(configFile === undefined ? [] : [configFile]), ...configDropIns]) {
    const text = node.readText(file) as string;
    texts.set(file, text);
    const parsed = parseKubeletConfig(text, file);
    for (const field of ENDPOINT_FIELDS) {
      const value = parsed.endpoints[field];
      if (value !== undefined) places.push({ kind: 'config-field', file, field, value });
    }
  }
  for (const { path, variable } of flagFiles) {
    const file = parseFlagsFile(texts.get(path) as string, path, variable);
    for (const field of ENDPOINT_FIELDS) {
      const flag = ENDPOINT_FLAGS[field];
      flagsIn(file, flag, path).forEach((occurrence, index) => {
        if (occurrence.value !== '') places.push({ kind: 'flag', file: path, field, variable, flag, occurrence: index, value: occurrence.value });
      });
    }
  }
  const effective = (field: EndpointField): EffectiveEndpoint | undefined => {
    const setting = places.filter((place) => place.field === field);
    const winner = setting.filter((place) => place.kind === 'flag').at(-1) ?? setting.at(-1);
    return winner === undefined ? undefined : { endpoint: winner.value, source: describe(winner), file: winner.file };
  };
  const runtime = effective('containerRuntimeEndpoint') ?? { endpoint: KUBELET_DEFAULT_RUNTIME_ENDPOINT, source: "kubelet's default", file: undefined };
  const image = effective('imageServiceEndpoint') ?? { endpoint: runtime.endpoint, source: 'none set: the runtime endpoint', file: undefined };
  return { configFile, configFileFrom, configDropIns, flagFiles, texts, places, runtime, image };
}

interface ConfigFlag {
  readonly flag: '--config' | '--config-dir';
  readonly value: string;
  readonly file: string;
}

const CONFIG_FLAG_IN_UNIT = /(?:^|[\s"'=])(--config|--config-dir)(?:=|[ \t]+)([^\s"']+)/g;

/**
 * --config and --config-dir in kubelet's unit and its drop-ins (Environment= and
 * ExecStart= lines), in the order systemd applies the files: a drop-in in /etc hides one
 * of the same name in /usr/lib, and drop-ins apply by file name.
 */
function configFlagsInUnits(node: NodeRoot): ConfigFlag[] {
  const unit = [...UNIT_DIRS].reverse().map((dir) => `${dir}/kubelet.service`).find((path) => node.exists(path));
  const dropIns = new Map<string, string>();
  for (const dir of UNIT_DIRS) {
    for (const name of node.list(`${dir}/kubelet.service.d`)) if (name.endsWith('.conf')) dropIns.set(name, `${dir}/kubelet.service.d/${name}`);
  }
  const files = [...(unit === undefined ? [] : [unit]), ...[...dropIns.keys()].sort().map((name) => dropIns.get(name) as string)];
  const found: ConfigFlag[] = [];
  for (const file of files) {
    for (const line of (node.readText(file) ?? '').split('\n')) {
      const trimmed = line.trim();
      if (!trimmed.startsWith('Environment=') && !trimmed.startsWith('ExecStart=')) continue;
      for (const match of trimmed.matchAll(CONFIG_FLAG_IN_UNIT)) found.push({ flag: match[1] as ConfigFlag['flag'], value: match[2], file });
    }
  }
  return found;
}

function configFlagsInFlagFile(text: string, path: string, variable: string): ConfigFlag[] {
  const assignment = lastAssignment(parseEnvFile(text, path), variable);
  if (assignment === undefined) return [];
  const tokens = tokensOf(assignment);
  const flags = (['--config', '--config-dir'] as const).flatMap((flag) => flagOccurrences(tokens, flag, path).map((occurrence) => ({ flag, value: occurrence.value, file: path, at: occurrence.start })));
  return flags.sort((a, b) => a.at - b.at).map(({ flag, value, file }) => ({ flag, value, file }));
}
