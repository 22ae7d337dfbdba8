import { parse as parseYaml } from 'yaml';
import { defaultImageListen, sameSocket } from '../config/endpoint.js';
import { issuesOf } from '../config/load.js';
import { configSchema } from '../config/schema.js';
import { InstallError } from '../errors.js';
import { flagOccurrences, lastAssignment, parseEnvFile, tokensOf, type ArgToken } from './env-file.js';
import type { PreviousEndpoints } from './install-state.js';
import { UNIT_DIRS } from './kubelet-command-line.js';
import type { KubeletSettings } from './kubelet-settings.js';
import type { NodeFile } from './node-files.js';
import { CRISCOPE_ENDPOINT, CRISCOPE_IMAGE_ENDPOINT, isCriscopeEndpoint, NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { shown, type InstallReport } from './report.js';
import { lineOf, serviceSettings } from './systemd-unit.js';

/**
 * The config install keeps once written (/etc/criscope/criscope.yaml), and the flags
 * /etc/default/criscope adds in CRISCOPE_OPTS, decide where criscope listens and relays;
 * install decides where kubelet is pointed. When the two disagree, kubelet would be
 * pointed at a socket nobody serves, or relayed to a runtime it never used: install
 * refuses before it writes anything, naming the file, the setting, what it says and
 * what kubelet needs.
 */

/** The settings of criscope's that kubelet's endpoints depend on, by their config key. */
type RelayKey = 'listen' | 'runtimeEndpoint' | 'imageEndpoint' | 'imageListen';

const FLAG_OF: Readonly<Record<RelayKey, string>> = {
  listen: '--listen',
  runtimeEndpoint: '--runtime-endpoint',
  imageEndpoint: '--image-endpoint',
  imageListen: '--image-listen',
};

/** One setting as criscope serve will have it, and where it is said (for the message). */
interface RelaySetting {
  readonly value: string | undefined;
  /** The file that says it. */
  readonly file: string;
  /** How that file names it: `imageEndpoint`, or `--image-endpoint in CRISCOPE_OPTS`. */
  readonly key: string;
  /** Whether the config file leaves it to its default (only listen has one). */
  readonly defaulted: boolean;
}

export interface RelayAgreement {
  readonly settings: KubeletSettings;
  readonly previous: PreviousEndpoints;
  readonly imageSplit: boolean;
  /** The config file install would write: what is in force when the node has none yet. */
  readonly config: NodeFile;
  /** The env file install would write: --env-file's, or the packaged one (written only when the node has none). */
  readonly envFile: NodeFile;
  /** --env-file, when given: its flags are named by that file. */
  readonly envFileGiven: string | undefined;
}

/** The environment file criscope.service will have, and the file to name for it. */
interface EnvSource {
  readonly text: string;
  readonly file: string;
  /** Given with --env-file (else the node's own, or the packaged one install would write). */
  readonly given: boolean;
}

/**
 * A criscope.service drop-in (`systemctl edit criscope`) that sets criscope's command line
 * or CRISCOPE_OPTS would decide where criscope relays, out of this check's sight: refused,
 * naming the file and line. Other settings there (NODE_NAME, OTEL_*, limits) are fine.
 */
function refuseRelaySettingsInDropIns(node: NodeRoot): void {
  for (const dir of UNIT_DIRS) {
    for (const name of node.list(`${dir}/criscope.service.d`)) {
      const path = `${dir}/criscope.service.d/${name}`;
      const text = name.endsWith('.conf') ? node.readText(path) : undefined;
      if (text === undefined) continue;
      for (const setting of serviceSettings(text, path)) {
        const setsOpts = setting.key === 'Environment' && /(^|\s|")CRISCOPE_OPTS=/.test(setting.value);
        const fileSetsOpts = setting.key === 'EnvironmentFile' && envFileSetsOpts(node, setting.value.replace(/^-/, ''));
        if (setting.key === 'ExecStart' || setsOpts || fileSetsOpts) {
          throw new InstallError(
            `${path}: line ${lineOf(setting, 0)}`,
            `${setting.key}= ${setting.key === 'ExecStart' ? "sets criscope's command line" : 'sets CRISCOPE_OPTS'}, so install cannot check where criscope relays kubelet's calls; put criscope's flags in CRISCOPE_OPTS of ${NODE_PATHS.envFile} (or --env-file) or in ${NODE_PATHS.config} instead, and run install again; nothing was changed`,
          );
        }
      }
    }
  }
}

function envFileSetsOpts(node: NodeRoot, path: string): boolean {
  const text = node.readText(path);
  if (text === undefined || path === NODE_PATHS.envFile) return false;
  try {
    return lastAssignment(parseEnvFile(text, path), 'CRISCOPE_OPTS') !== undefined;
  } catch {
    return true; // Unreadable here: it may well set it.
  }
}

export function checkRelayAgreement(node: NodeRoot, report: InstallReport, agreement: RelayAgreement): void {
  refuseRelaySettingsInDropIns(node);
  const configText = node.readText(NODE_PATHS.config) ?? agreement.config.content;
  const env: EnvSource =
    agreement.envFileGiven === undefined
      ? { text: node.readText(NODE_PATHS.envFile) ?? agreement.envFile.content, file: NODE_PATHS.envFile, given: false }
      : { text: agreement.envFile.content, file: agreement.envFileGiven, given: true };
  const relay = relaySettings(configText, env, report);
  const { previous, imageSplit } = agreement;
  const refuse = (setting: RelaySetting, needs: string, fix: string): never => {
    const kept = setting.file === NODE_PATHS.config || setting.file === NODE_PATHS.envFile ? ' (install keeps this file once written)' : '';
    throw new InstallError(setting.file, `${setting.key} is ${setting.defaulted ? `left to its default, ${setting.value ?? ''}` : shown(setting.value)}, but ${needs}; ${fix} there${kept} and run install again; nothing was changed`);
  };

  if (relay.listen.value === undefined || !sameSocket(relay.listen.value, CRISCOPE_ENDPOINT)) {
    refuse(relay.listen, `criscope.socket listens on ${NODE_PATHS.socket} and kubelet is pointed at ${CRISCOPE_ENDPOINT}; criscope refuses a socket that is not its listen`, `make it ${CRISCOPE_ENDPOINT}`);
  }
  const runtime = relay.runtimeEndpoint;
  if (runtime.value === undefined) {
    report.line(`warning: ${runtime.file}: no runtimeEndpoint, so criscope relays to the first well-known runtime socket that answers; kubelet's runtime was ${previous.runtime} (${previousSource(agreement, 'runtime')})`);
  } else if (!sameSocket(runtime.value, previous.runtime)) {
    refuse(
      runtime,
      `kubelet's runtime is ${previous.runtime} (${previousSource(agreement, 'runtime')}), and criscope would relay kubelet's calls to another runtime than that`,
      `make it ${previous.runtime}; to move the node to another runtime, run criscope uninstall, point kubelet at that runtime, then install`,
    );
  }
  const image = relay.imageEndpoint;
  if (imageSplit) {
    const needs = `kubelet's image endpoint is ${previous.image} (${previousSource(agreement, 'image')}), a socket of its own, and install points kubelet's image endpoint at ${CRISCOPE_IMAGE_ENDPOINT}`;
    if (image.value === undefined || !sameSocket(image.value, previous.image)) refuse(image, `${needs}, which criscope relays to its imageEndpoint`, `make it ${previous.image}`);
    const imageListen = relay.imageListen.value ?? defaultImageListen(relay.listen.value ?? CRISCOPE_ENDPOINT);
    if (imageListen === undefined || !sameSocket(imageListen, CRISCOPE_IMAGE_ENDPOINT)) {
      refuse({ ...relay.imageListen, value: imageListen, defaulted: relay.imageListen.value === undefined }, `${needs}, which criscope serves only when imageListen is that socket`, `make it ${CRISCOPE_IMAGE_ENDPOINT}`);
    }
  } else if (image.value !== undefined && !sameSocket(image.value, previous.image)) {
    report.line(`warning: ${image.file}: ${image.key} is ${image.value}, but kubelet's image endpoint is its runtime endpoint; kubelet's image calls go to ${previous.image} through ${CRISCOPE_ENDPOINT}, and criscope's image socket is not used`);
  }
}

/** Where install took the endpoint kubelet needs: kubelet's own setting, or the record when kubelet is on criscope already. */
function previousSource(agreement: RelayAgreement, which: 'runtime' | 'image'): string {
  const effective = agreement.settings[which];
  return isCriscopeEndpoint(effective.endpoint) ? `kubelet's ${which} endpoint before criscope, in ${NODE_PATHS.state}` : effective.source;
}

/** The four settings as `criscope serve --config <config> $CRISCOPE_OPTS` will have them: the file, and the flags over it. */
function relaySettings(configText: string, env: EnvSource, report: InstallReport): Record<RelayKey, RelaySetting> {
  const file = NODE_PATHS.config;
  let data: unknown;
  try {
    data = parseYaml(configText) ?? {};
  } catch (error) {
    throw new InstallError(file, `not valid YAML (${(error as Error).message}); criscope would not start with it; fix it, or remove it to have install write it again`, { cause: error });
  }
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) throw new InstallError(file, `criscope serve would refuse it: ${issuesOf(parsed.error).map((issue) => `${issue.field || '(top level)'}: ${issue.reason}`).join('; ')}; fix it, or remove it to have install write it again`);
  const config = parsed.data;
  const settings: Record<RelayKey, RelaySetting> = {
    listen: { value: config.listen, file, key: 'listen', defaulted: !hasKey(data, 'listen') },
    runtimeEndpoint: { value: config.runtimeEndpoint, file, key: 'runtimeEndpoint', defaulted: false },
    imageEndpoint: { value: config.imageEndpoint, file, key: 'imageEndpoint', defaulted: false },
    imageListen: { value: config.imageListen, file, key: 'imageListen', defaulted: false },
  };
  const opts = criscopeOpts(env, report);
  for (const [key, flag] of Object.entries(FLAG_OF) as [RelayKey, string][]) {
    const value = flagOccurrences(opts, flag, env.file).at(-1)?.value;
    if (value !== undefined) settings[key] = { value, file: env.file, key: `${flag} in CRISCOPE_OPTS`, defaulted: false };
  }
  return settings;
}

function hasKey(data: unknown, key: string): boolean {
  return typeof data === 'object' && data !== null && key in data;
}

/**
 * The words of CRISCOPE_OPTS. An env file given with --env-file was checked already; one
 * kept on the node that this reader cannot take (systemd reads more forms than it does)
 * is said, not refused: its flags are then not checked here (the readiness wait still
 * sees what criscope makes of them).
 */
function criscopeOpts(env: EnvSource, report: InstallReport): ArgToken[] {
  let assignments;
  try {
    assignments = parseEnvFile(env.text, env.file);
  } catch (error) {
    if (env.given) throw error;
    report.line(`warning: ${env.file}: cannot read CRISCOPE_OPTS (${(error as Error).message}); flags there are not checked against kubelet's endpoints`);
    return [];
  }
  const opts = lastAssignment(assignments, 'CRISCOPE_OPTS');
  return opts === undefined ? [] : tokensOf(opts);
}
