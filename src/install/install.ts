import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { unixSocketPath } from '../config/endpoint.js';
import { InstallError } from '../errors.js';
import { editInPlace, planSwap, type EndpointTargets, type FileSwap } from './endpoint-swap.js';
import type { InstallOptions } from './install-options.js';
import { readInstallState, writeInstallState, type EditRecord, type InstallState } from './install-state.js';
import { readKubeletSettings, type KubeletSettings } from './kubelet-settings.js';
import { criscopeConfig, envFile, executableSource, unitFiles, type ExecutableSource, type NodeFile } from './node-files.js';
import { CRISCOPE_ENDPOINT, CRISCOPE_IMAGE_ENDPOINT, isCriscopeEndpoint, NODE_PATHS, sameSocket } from './node-layout.js';
import { NodeRoot } from './node-root.js';
import { waitForCriVersion } from './readiness.js';
import { InstallReport, octal, shown } from './report.js';
import { createSystemctl } from './systemctl.js';
import { SystemdSteps } from './systemd-steps.js';

/**
 * `criscope install`: puts criscope on the node as a systemd service, waits until it
 * answers, then moves kubelet onto it. Everything that can be refused is refused before
 * the first write; kubelet's files are edited only once criscope answers, so a failed
 * install leaves kubelet where it was.
 */
export async function install(options: InstallOptions, write: (line: string) => void): Promise<void> {
  const node = new NodeRoot(options.root, options.dryRun);
  const report = new InstallReport(write, options.dryRun);
  const steps = new SystemdSteps(createSystemctl(options.systemd, options.dryRun), report, options.dryRun);
  if (options.dryRun) report.line('nothing is changed: each line says what install would do');

  // 1. kubelet's settings, and everything that can refuse, before anything is written.
  const state = readInstallState(node);
  const kubeletConfig = options.kubeletConfig ?? state?.kubeletConfig;
  const settings = readKubeletSettings(node, kubeletConfig);
  reportSettings(settings, report);
  const previous = previousEndpoints(settings, state);
  const imageSplit = !sameSocket(previous.image, previous.runtime);
  const targets: EndpointTargets = { containerRuntimeEndpoint: CRISCOPE_ENDPOINT, imageServiceEndpoint: imageSplit ? CRISCOPE_IMAGE_ENDPOINT : CRISCOPE_ENDPOINT };
  const swaps = planSwap(settings, targets);
  const executable = executableSource(options.binary);

  // 2. criscope's files; what they replaced is kept until the new criscope answers.
  const replaced: ReplacedFile[] = [];
  let criscopeChanged = installExecutable(node, report, executable, replaced);
  for (const file of [...unitFiles(), envFile(), criscopeConfig(previous, imageSplit)]) criscopeChanged = placeFile(node, report, file, replaced) || criscopeChanged;
  checkKeptConfig(node, report, previous);

  // 3. criscope running and answering before kubelet is moved onto it.
  if (steps.runs || criscopeChanged) {
    steps.run(['daemon-reload']);
    steps.run(['enable', 'criscope.socket', 'criscope.service']);
    // start is a no-op when it runs already: nothing of criscope's changed, so no restart.
    steps.run([criscopeChanged ? 'restart' : 'start', 'criscope.service']);
  }
  if (steps.runs) {
    const socket = node.hostPath(NODE_PATHS.socket);
    let answer;
    try {
      answer = await waitForCriVersion(socket, options.waitSeconds);
    } catch (error) {
      const rolledBack = replaced.length > 0 ? await rollBack(node, steps, replaced, socket, options.waitSeconds) : '';
      throw new InstallError(
        NODE_PATHS.socket,
        `criscope did not answer a CRI Version call within ${options.waitSeconds} s (${(error as Error).message}); kubelet was left on ${settings.runtime.endpoint}${rolledBack}; journalctl -u criscope.service says why`,
      );
    }
    report.line(`${NODE_PATHS.socket}: criscope answers (${answer.runtimeName} ${answer.runtimeVersion} behind it)`);
  } else if (swaps.length > 0) {
    steps.operatorStep(`crictl --runtime-endpoint ${CRISCOPE_ENDPOINT} version   # must answer before kubelet restarts`);
  }

  // 4. kubelet onto criscope.
  const kept = keptEdits(node, report, state);
  backUpKubeletFiles(node, report, swaps, kept);
  const nextState: InstallState = {
    version: 1,
    previousEndpoints: previous,
    ...(kubeletConfig === undefined ? {} : { kubeletConfig }),
    edits: [...kept, ...swaps.flatMap((swap) => swap.edits)],
    updatedAt: new Date().toISOString(),
  };
  const stateChanged = state === undefined || !isDeepStrictEqual({ ...state, updatedAt: '' }, { ...nextState, updatedAt: '' });
  if (stateChanged) {
    writeInstallState(node, nextState);
    report.line(`${NODE_PATHS.state}: ${state === undefined ? 'written' : 'updated'} (${nextState.edits.length} kubelet edit${nextState.edits.length === 1 ? '' : 's'} recorded)`);
  } else {
    report.line(`${NODE_PATHS.state}: unchanged`);
  }
  writeKubeletFiles(node, report, swaps);

  // 5. kubelet restarted onto criscope; its pods keep running.
  if (swaps.length > 0) steps.run(['restart', 'kubelet']);
  else report.line(`kubelet: unchanged (already on ${CRISCOPE_ENDPOINT})`);
  steps.finish();
  const relay = imageSplit ? `${previous.runtime} (images: ${previous.image})` : previous.runtime;
  if (!criscopeChanged && swaps.length === 0 && !stateChanged) report.line('nothing changed');
  else report.line(`done: kubelet ${steps.runs ? 'uses' : 'will use'} criscope at ${CRISCOPE_ENDPOINT}, which relays to ${relay}`);
}

function reportSettings(settings: KubeletSettings, report: InstallReport): void {
  report.line(`kubelet config: ${settings.configFile ?? '(none)'} (${settings.configFileFrom})`);
  for (const dropIn of settings.configDropIns) report.line(`kubelet config drop-in: ${dropIn}`);
  for (const { path, variable } of settings.flagFiles) report.line(`kubelet flags: ${path} (${variable})`);
  report.line(`kubelet runtime endpoint: ${settings.runtime.endpoint} (${settings.runtime.source})`);
  report.line(`kubelet image endpoint: ${settings.image.endpoint} (${settings.image.source})`);
}

/**
 * The runtime (and image service) kubelet used before criscope, which criscope relays to.
 * When kubelet already points at criscope, only the install record knows them; without
 * one, install refuses rather than make criscope relay to itself.
 */
function previousEndpoints(settings: KubeletSettings, state: InstallState | undefined): InstallState['previousEndpoints'] {
  const onCriscope = [settings.runtime, settings.image].find((effective) => isCriscopeEndpoint(effective.endpoint));
  if (onCriscope !== undefined && state === undefined) {
    throw new InstallError(
      NODE_PATHS.state,
      `no install record, yet kubelet already uses criscope (${onCriscope.source}), so the runtime it used before is unknown; point kubelet back at its runtime and run install again`,
    );
  }
  const previous = {
    runtime: isCriscopeEndpoint(settings.runtime.endpoint) ? (state as InstallState).previousEndpoints.runtime : settings.runtime.endpoint,
    image: isCriscopeEndpoint(settings.image.endpoint) ? (state as InstallState).previousEndpoints.image : settings.image.endpoint,
  };
  for (const [name, endpoint] of Object.entries(previous)) {
    const source = name === 'runtime' ? settings.runtime.source : settings.image.source;
    if (unixSocketPath(endpoint) === undefined) throw new InstallError(NODE_PATHS.config, `kubelet's ${name} endpoint ${endpoint} (${source}) is not a unix socket; criscope relays unix sockets only`);
  }
  return previous;
}

/** One of criscope's files as it was before install replaced it. */
interface ReplacedFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly mode: number | undefined;
}

/**
 * An upgrade whose criscope does not answer would leave kubelet, already on criscope's
 * socket, with no runtime: puts the replaced files back and restarts the criscope that
 * worked. Says how that went, for the error.
 */
async function rollBack(node: NodeRoot, steps: SystemdSteps, replaced: readonly ReplacedFile[], socket: string, waitSeconds: number): Promise<string> {
  for (const file of replaced) node.write(file.path, file.bytes, file.mode);
  steps.run(['daemon-reload']);
  steps.run(['restart', 'criscope.service']);
  try {
    await waitForCriVersion(socket, waitSeconds);
    return `; the previous ${replaced.map((file) => file.path).join(', ')} ${replaced.length === 1 ? 'is' : 'are'} back, and that criscope answers`;
  } catch (error) {
    return `; the previous ${replaced.map((file) => file.path).join(', ')} ${replaced.length === 1 ? 'is' : 'are'} back, but that criscope does not answer either (${(error as Error).message})`;
  }
}

/** Copies the executable when the node's differs; whether it did. */
function installExecutable(node: NodeRoot, report: InstallReport, executable: ExecutableSource, replaced: ReplacedFile[]): boolean {
  const path = NODE_PATHS.executable;
  const current = node.read(path);
  if (current !== undefined && current.equals(executable.bytes) && node.modeOf(path) === 0o755) {
    report.line(`${path}: unchanged`);
    return false;
  }
  if (current !== undefined) replaced.push({ path, bytes: current, mode: node.modeOf(path) });
  node.write(path, executable.bytes, 0o755);
  report.line(`${path}: ${current === undefined ? 'installed' : 'replaced'} from ${executable.path} (${executable.from}), mode 0755`);
  return true;
}

/** Writes one of criscope's files by its policy; whether it did. */
function placeFile(node: NodeRoot, report: InstallReport, file: NodeFile, replaced: ReplacedFile[]): boolean {
  const current = node.readText(file.path);
  if (current !== undefined && file.existing === 'keep') {
    report.line(`${file.path}: kept (exists)`);
    return false;
  }
  if (current === file.content) {
    report.line(`${file.path}: unchanged`);
    return false;
  }
  if (current !== undefined) replaced.push({ path: file.path, bytes: Buffer.from(current, 'utf8'), mode: node.modeOf(file.path) });
  node.write(file.path, file.content, file.mode);
  report.line(`${file.path}: ${current === undefined ? 'written' : 'replaced'}, mode ${octal(file.mode)}${file.note === undefined ? '' : ` (${file.note})`}`);
  return true;
}

/** A kept config that relays elsewhere than kubelet's runtime is the operator's choice, but worth a word. */
function checkKeptConfig(node: NodeRoot, report: InstallReport, previous: InstallState['previousEndpoints']): void {
  let config: unknown;
  try {
    config = parseYaml(node.readText(NODE_PATHS.config) ?? '');
  } catch {
    report.line(`warning: ${NODE_PATHS.config} is not valid YAML; criscope will not start until it is`);
    return;
  }
  const runtimeEndpoint = (config as { runtimeEndpoint?: unknown } | null)?.runtimeEndpoint;
  if (typeof runtimeEndpoint === 'string' && !sameSocket(runtimeEndpoint, previous.runtime)) {
    report.line(`warning: ${NODE_PATHS.config} relays to ${runtimeEndpoint}, but kubelet's runtime was ${previous.runtime}; kept as it is`);
  }
}

/** The recorded edits still in place; the others (kubeadm upgrade rewrote the file, say) are dropped from the record. */
function keptEdits(node: NodeRoot, report: InstallReport, state: InstallState | undefined): EditRecord[] {
  const kept: EditRecord[] = [];
  for (const edit of state?.edits ?? []) {
    if (editInPlace(node.readText(edit.file), edit)) kept.push(edit);
    else report.line(`${edit.file}: ${edit.key} is no longer what install wrote (changed since); dropped from the record`);
  }
  return kept;
}

/** Backs up each file about to be edited, unless a kept edit shows criscope edited it already (the backup is then the file before that). */
function backUpKubeletFiles(node: NodeRoot, report: InstallReport, swaps: readonly FileSwap[], kept: readonly EditRecord[]): void {
  for (const swap of swaps) {
    // Between planning and now criscope was started: make sure nobody wrote the file meanwhile.
    if (node.readText(swap.file) !== swap.before) throw new InstallError(swap.file, 'changed while install ran; kubelet was not changed; run install again');
  }
  for (const swap of swaps) {
    if (kept.some((edit) => edit.file === swap.file)) continue;
    const backup = swap.edits[0]?.backup;
    node.write(backup, swap.before, node.modeOf(swap.file));
    report.line(`${swap.file}: copied to ${backup}`);
  }
}

/** Writes each edited file whole (keeping its mode and owner), then says what changed in it. */
function writeKubeletFiles(node: NodeRoot, report: InstallReport, swaps: readonly FileSwap[]): void {
  for (const swap of swaps) {
    node.write(swap.file, swap.after);
    for (const edit of swap.edits) {
      const key = edit.kind === 'flag' ? `${edit.variable} ${edit.key}` : edit.key;
      report.line(`${swap.file}: ${key}: ${edit.present ? shown(edit.previousValue) : '(absent)'} → ${edit.writtenValue}${edit.present ? '' : ' (added)'}`);
    }
  }
}
