import { posix } from 'node:path';
import { InstallError } from '../errors.js';
import { flagNameOf } from './env-file.js';
import { readKubeletCommandLine, type WordOrigin } from './kubelet-command-line.js';
import { ENDPOINT_FIELDS, parseKubeletConfig, type EndpointField } from './kubelet-config-edit.js';
import { ENDPOINT_FLAGS } from './kubelet-flags-edit.js';
import { KUBELET_DEFAULT_RUNTIME_ENDPOINT } from './node-layout.js';
import type { NodeRoot } from './node-root.js';

export { FLAG_FILES } from './kubelet-command-line.js';

/**
 * Where kubelet gets its runtime and image endpoints on a node, read from the files
 * systemd starts it with, and what they come to: a flag beats the config file, a
 * --config-dir drop-in beats the config file, the last of each kind wins.
 */

export const DEFAULT_KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';

/** One place that sets an endpoint and that install can edit: a config field or one occurrence of a flag in an environment file's variable. */
export type EndpointPlace =
  | { readonly kind: 'config-field'; readonly file: string; readonly field: EndpointField; readonly value: string }
  | { readonly kind: 'flag'; readonly file: string; readonly field: EndpointField; readonly variable: string; readonly flag: string; readonly occurrence: number; readonly value: string };

/**
 * An endpoint flag where install does not edit it: in ExecStart= itself, in a variable
 * an Environment= line of a unit sets, or in an environment file's variable with its
 * value in the next variable.
 */
export interface FixedEndpointPlace {
  readonly kind: 'exec-start' | 'environment' | 'environment-file';
  readonly file: string;
  readonly line: number;
  readonly field: EndpointField;
  /** As written (`--container_runtime_endpoint` too). */
  readonly flag: string;
  readonly variable: string | undefined;
  readonly value: string;
}

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
  /** How the config file was found: "--config in …", "--kubelet-config", "the default path"; "→ file" when it is a link. */
  readonly configFileFrom: string;
  /** Files of kubelet's --config-dir, in the order kubelet applies them. */
  readonly configDropIns: readonly string[];
  /** Where kubelet's command line was read: "ExecStart= in … line …", or that kubeadm's was assumed. */
  readonly commandLineFrom: string;
  /** The environment files whose variables kubelet's command line expands, with each such variable. */
  readonly flagFiles: readonly { readonly path: string; readonly variable: string }[];
  /** Each file read above, as it was. */
  readonly texts: ReadonlyMap<string, string>;
  /** The real file of each file read above that is reached through a symbolic link. */
  readonly realPaths: ReadonlyMap<string, string>;
  /** Every place install can edit that sets an endpoint, lowest precedence first. */
  readonly places: readonly EndpointPlace[];
  /** Endpoint flags install cannot edit; only with `uneditableFlags: 'report'`, else they are refused. */
  readonly fixedPlaces: readonly FixedEndpointPlace[];
  readonly runtime: EffectiveEndpoint;
  readonly image: EffectiveEndpoint;
}

export interface ReadKubeletOptions {
  /**
   * refuse (the default, for install): an endpoint flag install could not edit is an
   * InstallError naming its file and line. report: it is in `fixedPlaces` and counts for
   * the effective endpoints (uninstall only needs to know where kubelet points).
   */
  readonly uneditableFlags?: 'refuse' | 'report';
}

function describe(place: EndpointPlace | FixedEndpointPlace): string {
  if (place.kind === 'config-field') return `${place.field} in ${place.file}`;
  if (place.kind === 'flag') return `${place.flag} in ${place.file}`;
  const where = { 'exec-start': 'ExecStart=', environment: `Environment= ${place.variable ?? ''}`, 'environment-file': place.variable ?? '' }[place.kind];
  return `${place.flag} in ${place.file} line ${place.line} (${where})`;
}

/** One word of kubelet's command line, with the stretch it belongs to. */
interface CommandWord {
  readonly text: string;
  readonly segment: number;
  readonly origin: WordOrigin;
}

/** Each `--flag=value` or `--flag value` of a flag (either spelling of its name), in command-line order. */
interface FoundFlag {
  /** The flag as written. */
  readonly written: string;
  readonly value: string;
  readonly origin: WordOrigin;
  /** Editable: flag and value are in one variable of an environment file; which occurrence there (from 0), as the flag-file edits count them. */
  readonly occurrence: number | undefined;
}

function flagsOnCommandLine(commandWords: readonly CommandWord[], flag: string): FoundFlag[] {
  const found: FoundFlag[] = [];
  const perSegment = new Map<number, number>();
  commandWords.forEach((word, index) => {
    if (flagNameOf(word.text) !== flag) return;
    const equals = word.text.indexOf('=');
    const valueWord = equals === -1 ? commandWords[index + 1] : word;
    if (valueWord === undefined || (equals === -1 && valueWord.text.startsWith('-'))) throw new InstallError(word.origin.file, `line ${word.origin.line}: ${flag} has no value`);
    const occurrence = perSegment.get(word.segment) ?? 0;
    perSegment.set(word.segment, occurrence + 1);
    const editable = word.origin.kind === 'environment-file' && valueWord.segment === word.segment;
    found.push({
      written: equals === -1 ? word.text : word.text.slice(0, equals),
      value: equals === -1 ? valueWord.text : word.text.slice(equals + 1),
      origin: word.origin,
      occurrence: editable ? occurrence : undefined,
    });
  });
  return found;
}

/** Why install will not move kubelet off an endpoint flag it cannot edit, and what the operator can do. */
function refusal(place: FixedEndpointPlace): InstallError {
  const instead = `set ${place.field} in kubelet's config file instead (or give the flag in a variable of an EnvironmentFile= that ExecStart= expands), run systemctl daemon-reload and restart kubelet, then run install again`;
  if (place.kind === 'exec-start') {
    return new InstallError(place.file, `line ${place.line}: kubelet's ExecStart= gives ${place.flag} itself, and install does not edit unit files; remove it there, ${instead}`);
  }
  if (place.kind === 'environment-file') {
    return new InstallError(place.file, `line ${place.line}: ${place.variable ?? ''} ends with ${place.flag}, and its value is in the next variable of kubelet's command line; write it as ${place.flag}=VALUE in one variable, restart kubelet, then run install again`);
  }
  return new InstallError(place.file, `line ${place.line}: Environment= sets ${place.variable ?? ''}, which kubelet's ExecStart= expands, with ${place.flag}, and install does not edit unit files; remove it there, ${instead}`);
}

/** Reads kubelet's files under the node root; refuses (InstallError naming the file) any it cannot parse. */
export function readKubeletSettings(node: NodeRoot, kubeletConfigOption: string | undefined, options: ReadKubeletOptions = {}): KubeletSettings {
  const commandLine = readKubeletCommandLine(node);
  const texts = new Map(commandLine.texts);
  const commandWords = commandLine.segments.flatMap((segment, index) => segment.words.map((text) => ({ text, segment: index, origin: segment.origin })));
  const lastOf = (flag: string): FoundFlag | undefined => flagsOnCommandLine(commandWords, flag).at(-1);
  const linked = (path: string): string => {
    const real = node.resolve(path);
    return real === posix.normalize(path) ? '' : `, → ${real}`;
  };

  let configFile: string | undefined;
  let configFileFrom: string;
  const configFlag = lastOf('--config');
  if (kubeletConfigOption !== undefined) {
    configFile = kubeletConfigOption;
    configFileFrom = '--kubelet-config';
    if (node.readText(configFile) === undefined) throw new InstallError(configFile, `no such file (given as --kubelet-config${linked(configFile)})`);
  } else if (configFlag !== undefined) {
    configFile = configFlag.value;
    configFileFrom = `--config in ${configFlag.origin.file}`;
    if (node.readText(configFile) === undefined) throw new InstallError(configFile, `no such file (kubelet's --config in ${configFlag.origin.file}${linked(configFile)})`);
  } else if (node.readText(DEFAULT_KUBELET_CONFIG) !== undefined) {
    configFile = DEFAULT_KUBELET_CONFIG;
    configFileFrom = 'the default path';
  } else {
    configFileFrom = `none: no --config flag found and no ${DEFAULT_KUBELET_CONFIG}`;
  }
  if (configFile !== undefined) configFileFrom += linked(configFile);

  const configDir = lastOf('--config-dir')?.value;
  const configReal = configFile === undefined ? undefined : node.resolve(configFile);
  const configDropIns =
    configDir === undefined
      ? []
      : node
          .list(configDir)
          .filter((name) => name.endsWith('.conf'))
          .map((name) => posix.join(configDir, name))
          .filter((path) => node.resolve(path) !== configReal);
  const configPlaces: EndpointPlace[] = [];
  for (const file of [...(configFile === undefined ? [] : [configFile]), ...configDropIns]) {
    const text = node.readText(file);
    if (text === undefined) throw new InstallError(file, 'cannot be read (a link that leads nowhere?)');
    texts.set(file, text);
    const parsed = parseKubeletConfig(text, file);
    for (const field of ENDPOINT_FIELDS) {
      const value = parsed.endpoints[field];
      if (value !== undefined) configPlaces.push({ kind: 'config-field', file, field, value });
    }
  }

  // Flags in command-line order, where kubelet takes the last; editable and fixed ones side by side.
  const flagPlaces: (EndpointPlace | FixedEndpointPlace)[] = [];
  for (const field of ENDPOINT_FIELDS) {
    const flag = ENDPOINT_FLAGS[field];
    for (const found of flagsOnCommandLine(commandWords, flag)) {
      if (found.value === '') continue;
      const { origin } = found;
      if (found.occurrence !== undefined && origin.kind === 'environment-file') {
        flagPlaces.push({ kind: 'flag', file: origin.file, field, variable: origin.variable, flag, occurrence: found.occurrence, value: found.value });
      } else {
        flagPlaces.push({ kind: origin.kind, file: origin.file, line: origin.line, field, flag: found.written, variable: origin.kind === 'exec-start' ? undefined : origin.variable, value: found.value });
      }
    }
  }
  const fixedPlaces = flagPlaces.filter((place): place is FixedEndpointPlace => place.kind !== 'flag');
  const firstFixed = fixedPlaces[0];
  if (firstFixed !== undefined && (options.uneditableFlags ?? 'refuse') === 'refuse') throw refusal(firstFixed);
  const places: EndpointPlace[] = [...configPlaces, ...flagPlaces.filter((place): place is EndpointPlace => place.kind === 'flag')];

  const effective = (field: EndpointField): EffectiveEndpoint | undefined => {
    const winner = flagPlaces.filter((place) => place.field === field).at(-1) ?? configPlaces.filter((place) => place.field === field).at(-1);
    return winner === undefined ? undefined : { endpoint: winner.value, source: describe(winner), file: winner.file };
  };
  const runtime = effective('containerRuntimeEndpoint') ?? { endpoint: KUBELET_DEFAULT_RUNTIME_ENDPOINT, source: "kubelet's default", file: undefined };
  const image = effective('imageServiceEndpoint') ?? { endpoint: runtime.endpoint, source: 'none set: the runtime endpoint', file: undefined };

  const realPaths = new Map<string, string>();
  for (const path of texts.keys()) {
    const real = node.resolve(path);
    if (real !== posix.normalize(path)) realPaths.set(path, real);
  }
  return {
    configFile,
    configFileFrom,
    configDropIns,
    commandLineFrom: commandLine.from,
    flagFiles: commandLine.flagFiles,
    texts,
    realPaths,
    places,
    fixedPlaces,
    runtime,
    image,
  };
}
