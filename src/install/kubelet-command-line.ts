import { InstallError } from '../errors.js';
import { lastAssignment, parseEnvFile, tokensOf, type EnvAssignment } from './env-file.js';
import type { NodeRoot } from './node-root.js';
import { lineOf, serviceSettings, unitWords, type UnitSetting } from './systemd-unit.js';

/**
 * kubelet's command line as systemd would start it, read from kubelet.service and its
 * drop-ins: the words of ExecStart=, with each `$VARIABLE` it expands replaced by that
 * variable's words, taken from the EnvironmentFile= or Environment= that sets it. Every
 * stretch of words keeps where it came from, because only a variable of an environment
 * file can be edited safely; a flag in ExecStart= itself or in an Environment= line is
 * the unit's, and systemd's to manage.
 */

/** The environment files kubeadm's drop-in reads, with the variable each holds kubelet's flags in. */
export const FLAG_FILES: readonly { readonly path: string; readonly variable: string }[] = [
  { path: '/var/lib/kubelet/kubeadm-flags.env', variable: 'KUBELET_KUBEADM_ARGS' },
  { path: '/etc/default/kubelet', variable: 'KUBELET_EXTRA_ARGS' },
  { path: '/etc/sysconfig/kubelet', variable: 'KUBELET_EXTRA_ARGS' },
];

/** kubeadm's ExecStart=, assumed when no unit of kubelet's has one. */
const KUBEADM_EXEC_START = '/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS';

/** systemd's unit directories, highest precedence first. */
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** Where a stretch of kubelet's command line comes from. */
export type WordOrigin =
  /** Written in ExecStart= itself. */
  | { readonly kind: 'exec-start'; readonly file: string; readonly line: number }
  /** A variable ExecStart= expands, set by an Environment= line of a unit file. */
  | { readonly kind: 'environment'; readonly file: string; readonly line: number; readonly variable: string }
  /** A variable ExecStart= expands, set in an environment file (EnvironmentFile=): the place install edits. */
  | { readonly kind: 'environment-file'; readonly file: string; readonly line: number; readonly variable: string };

export interface CommandSegment {
  readonly origin: WordOrigin;
  /** For an environment file, its variable's words exactly as the flag-file edits count them. */
  readonly words: readonly string[];
}

export interface KubeletCommandLine {
  /** Where it was read, for messages: "ExecStart= in /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf line 11". */
  readonly from: string;
  /** kubelet's arguments in order, the executable left out. */
  readonly segments: readonly CommandSegment[];
  /**
   * The environment files and variables kubelet's flags can be edited in, in command-line
   * order: each variable ExecStart= expands that an environment file sets, and, for one
   * that nothing sets, kubeadm's file for it when the unit reads that file.
   */
  readonly flagFiles: readonly { readonly path: string; readonly variable: string }[];
  /** The text of each environment file read. */
  readonly texts: ReadonlyMap<string, string>;
}

/** kubelet.service and its drop-ins, in the order systemd applies them: a drop-in of one name in /etc hides one in /usr/lib, and drop-ins apply by name. */
function unitFiles(node: NodeRoot): { path: string; text: string }[] {
  const files: { path: string; text: string }[] = [];
  for (const dir of UNIT_DIRS) {
    const text = node.readText(`${dir}/kubelet.service`);
    if (text === undefined) continue;
    files.push({ path: `${dir}/kubelet.service`, text });
    break;
  }
  const dropIns = new Map<string, string>();
  for (const dir of [...UNIT_DIRS].reverse()) {
    for (const name of node.list(`${dir}/kubelet.service.d`)) if (name.endsWith('.conf')) dropIns.set(name, `${dir}/kubelet.service.d/${name}`);
  }
  for (const name of [...dropIns.keys()].sort()) {
    const path = dropIns.get(name) as string;
    const text = node.readText(path);
    if (text !== undefined) files.push({ path, text });
  }
  return files;
}

function words(setting: UnitSetting): { text: string; offset: number }[] {
  const found = unitWords(setting.value);
  if (found === undefined) throw new InstallError(setting.file, `line ${lineOf(setting, 0)}: unbalanced quotes in ${setting.key}=`);
  return found;
}

/** What the unit files say, applied in order: empty assignments reset, as systemd has them. */
interface ServiceEnvironment {
  /** Environment= assignments in force, by name. */
  readonly environment: Map<string, { readonly value: string; readonly setting: UnitSetting; readonly offset: number }>;
  /** EnvironmentFile= paths, in order; a leading `-` (missing is fine) removed. */
  readonly environmentFiles: string[];
  execStart: UnitSetting | undefined;
}

function applySettings(files: readonly { path: string; text: string }[]): ServiceEnvironment {
  const service: ServiceEnvironment = { environment: new Map(), environmentFiles: [], execStart: undefined };
  for (const file of files) {
    for (const setting of serviceSettings(file.text, file.path)) {
      if (setting.key === 'Environment') {
        if (setting.value === '') service.environment.clear();
        for (const word of words(setting)) {
          const equals = word.text.indexOf('=');
          if (equals > 0) service.environment.set(word.text.slice(0, equals), { value: word.text.slice(equals + 1), setting, offset: word.offset });
        }
      } else if (setting.key === 'EnvironmentFile') {
        if (setting.value === '') service.environmentFiles.length = 0;
        else service.environmentFiles.push(setting.value.replace(/^-/, ''));
      } else if (setting.key === 'ExecStart') {
        // kubelet is a simple service: the last ExecStart= is the one (an empty one clears those before).
        service.execStart = setting.value === '' ? undefined : setting;
      }
    }
  }
  return service;
}

const WHOLE_VARIABLE = /^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$/;
const VARIABLE_IN_WORD = /\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})/g;

export function readKubeletCommandLine(node: NodeRoot): KubeletCommandLine {
  const files = unitFiles(node);
  const service = applySettings(files);
  let execStart = service.execStart;
  let from: string;
  if (execStart === undefined) {
    // No unit of kubelet's says how it starts (a node set up by hand, a test): kubeadm's way.
    execStart = serviceSettings(`[Service]\nExecStart=${KUBEADM_EXEC_START}\n`, "kubeadm's kubelet drop-in")[0];
    for (const { path } of FLAG_FILES) if (!service.environmentFiles.includes(path)) service.environmentFiles.push(path);
    from = `no ExecStart= for kubelet.service found; kubeadm's assumed (${KUBEADM_EXEC_START})`;
  } else {
    from = `ExecStart= in ${execStart.file} line ${lineOf(execStart, 0)}`;
  }

  // Each environment file once, by the path it really is: two names of one file are one file.
  const texts = new Map<string, string>();
  const assignments = new Map<string, EnvAssignment[]>();
  const spellingOf = new Map<string, string>();
  const environmentFiles: string[] = [];
  for (const listed of service.environmentFiles) {
    const real = node.resolve(listed);
    const path = spellingOf.get(real) ?? listed;
    spellingOf.set(real, path);
    environmentFiles.push(path);
    if (texts.has(path)) continue;
    const text = node.readText(path);
    if (text === undefined) continue;
    texts.set(path, text);
    assignments.set(path, parseEnvFile(text, path));
  }

  /** A variable's stretch of the command line: environment files beat Environment=, and the last file that sets it wins. */
  const variable = (name: string): CommandSegment | undefined => {
    for (const path of [...environmentFiles].reverse()) {
      const assignment = lastAssignment(assignments.get(path) ?? [], name);
      if (assignment !== undefined) {
        return { origin: { kind: 'environment-file', file: path, line: assignment.line, variable: name }, words: tokensOf(assignment).map((token) => token.text) };
      }
    }
    const set = service.environment.get(name);
    if (set === undefined) return undefined;
    return { origin: { kind: 'environment', file: set.setting.file, line: lineOf(set.setting, set.offset), variable: name }, words: (unitWords(set.value) ?? []).map((word) => word.text) };
  };

  const segments: CommandSegment[] = [];
  const flagFiles: { path: string; variable: string }[] = [];
  const addFlagFile = (path: string, name: string): void => {
    if (!flagFiles.some((known) => known.path === path && known.variable === name)) flagFiles.push({ path, variable: name });
  };
  for (const word of words(execStart).slice(1)) {
    const whole = WHOLE_VARIABLE.exec(word.text);
    if (whole === null) {
      // A variable inside a word (`--config=${CONFIG}`) is part of a word ExecStart= writes.
      const text = word.text.replaceAll(VARIABLE_IN_WORD, (_, plain?: string, braced?: string) => {
        const value = variable(plain ?? braced ?? '');
        return value === undefined ? '' : value.words.join(' ');
      });
      segments.push({ origin: { kind: 'exec-start', file: execStart.file, line: lineOf(execStart, word.offset) }, words: [text] });
      continue;
    }
    const name = whole[1] ?? whole[2] ?? '';
    const segment = variable(name);
    if (segment !== undefined) {
      segments.push(segment);
      if (segment.origin.kind === 'environment-file') addFlagFile(segment.origin.file, name);
      continue;
    }
    // Set nowhere yet: kubeadm's file for it can take a flag, when the unit reads that file.
    for (const known of FLAG_FILES) if (known.variable === name && texts.has(known.path) && environmentFiles.includes(known.path)) addFlagFile(known.path, name);
  }
  return { from, segments, flagFiles, texts };
}
