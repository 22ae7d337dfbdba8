import { sameSocket, unixSocketPath } from '../config/endpoint.js';
import { InstallError } from '../errors.js';
import { CriscopeFiles } from './criscope-files.js';
import { startCriscopeService } from './criscope-service.js';
import { planSwap } from './endpoint-swap.js';
import type { InstallOptions } from './install-options.js';
import { readInstallState, writeInstallState, type InstallState, type PreviousEndpoints } from './install-state.js';
import { backUpKubeletFiles, keptEdits, writeKubeletFiles, writeRecord } from './kubelet-files.js';
import { readKubeletSettings, type EffectiveEndpoint, type KubeletSettings } from './kubelet-settings.js';
import { criscopeConfig, envFileFrom, executableSource, packagedEnvFile, unitFiles } from './node-files.js';
import { CRISCOPE_ENDPOINT, CRISCOPE_IMAGE_ENDPOINT, isCriscopeEndpoint, NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { runOnNode } from './node-run.js';
import { refuseKnownBadUpgrade, upgradeDigest } from './refused-upgrade.js';
import { checkRelayAgreement } from './relay-agreement.js';
import type { InstallReport } from './report.js';
import type { SystemdSteps } from './systemd-steps.js';

/**
 * `criscope install`: puts criscope on the node as a systemd service, waits until it
 * answers, then moves kubelet onto it. Everything that can be refused is refused before
 * the first write; kubelet's files are edited only once criscope answers, so a failed
 * install leaves kubelet where it was. One install or uninstall at a time (a lock).
 */
export function install(options: InstallOptions, write: (line: string) => void): Promise<void> {
  return runOnNode('install', options, write, ({ node, report, steps }) => installSteps(options, node, report, steps));
}

async function installSteps(options: InstallOptions, node: NodeRoot, report: InstallReport, steps: SystemdSteps): Promise<void> {
  // 1. kubelet's settings, and everything that can refuse, before anything is written.
  const state = readInstallState(node);
  const kubeletConfig = options.kubeletConfig ?? state?.kubeletConfig;
  const settings = readKubeletSettings(node, kubeletConfig);
  reportSettings(settings, report);
  const previous = previousEndpoints(settings, state);
  const imageSplit = !sameSocket(previous.image, previous.runtime);
  const swaps = planSwap(settings, { containerRuntimeEndpoint: CRISCOPE_ENDPOINT, imageServiceEndpoint: imageSplit ? CRISCOPE_IMAGE_ENDPOINT : CRISCOPE_ENDPOINT });
  const executable = executableSource(options.binary);
  const config = criscopeConfig(previous, imageSplit);
  const envFile = options.envFile === undefined ? packagedEnvFile() : envFileFrom(options.envFile);
  checkRelayAgreement(node, report, { settings, previous, imageSplit, config, envFile, envFileGiven: options.envFile });
  const criscopeFiles = [...unitFiles(), envFile, config];
  const digest = upgradeDigest(executable, criscopeFiles);
  refuseKnownBadUpgrade(node, digest);
  const restartPendingBefore = state?.kubeletRestartPending === true;
  const restartKubelet = swaps.length > 0 || restartPendingBefore;

  // 2. criscope's files; what they replaced is kept until the new criscope answers.
  const files = new CriscopeFiles(node, report, steps.runs, state !== undefined);
  files.placeExecutable(executable);
  for (const file of criscopeFiles) files.place(file);

  // 3. criscope running, and answering on every socket kubelet will use, before kubelet is moved onto it.
  const kubeletOnCriscope = isCriscopeEndpoint(settings.runtime.endpoint) || isCriscopeEndpoint(settings.image.endpoint);
  await startCriscopeService({ node, report, steps, files, imageSplit, waitSeconds: options.waitSeconds, kubeletRuntime: settings.runtime.endpoint, kubeletOnCriscope, kubeletMoves: restartKubelet, upgradeDigest: digest });

  // 4. kubelet's files onto criscope: recorded first, with the restart still to come (install does that only when it runs systemd).
  const kept = keptEdits(node, report, state);
  backUpKubeletFiles(node, report, swaps, kept);
  const nextState: InstallState = {
    version: 1,
    previousEndpoints: previous,
    ...(kubeletConfig === undefined ? {} : { kubeletConfig }),
    edits: [...kept, ...swaps.flatMap((swap) => swap.edits)],
    // Tracked only when install restarts kubelet itself; with --systemd none the operator is given the command.
    ...(steps.runs && restartKubelet ? { kubeletRestartPending: true } : {}),
    updatedAt: new Date().toISOString(),
  };
  const stateChanged = writeRecord(node, report, state, nextState);
  writeKubeletFiles(node, report, swaps, state);

  // 5. kubelet restarted onto criscope (its pods keep running); only then is the restart off the record.
  if (restartKubelet) {
    if (swaps.length === 0) report.line(`kubelet: its files name criscope already, but the restart an earlier run began was not seen through (${NODE_PATHS.state}): restarting it`);
    steps.run(['restart', 'kubelet'], `kubelet's files name criscope, which answers; ${NODE_PATHS.state} keeps the restart pending, and the next install or uninstall restarts kubelet`);
    if (steps.runs) writeInstallState(node, withoutPendingRestart(nextState));
  } else {
    report.line(`kubelet: unchanged (already on ${CRISCOPE_ENDPOINT})`);
  }
  steps.finish();
  const relay = imageSplit ? `${previous.runtime} (images: ${previous.image})` : previous.runtime;
  if (!files.changed && !restartKubelet && !stateChanged) report.line('nothing changed');
  else report.line(`done: kubelet ${steps.runs ? 'uses' : 'will use'} criscope at ${CRISCOPE_ENDPOINT}, which relays to ${relay}`);
}

function reportSettings(settings: KubeletSettings, report: InstallReport): void {
  report.line(`kubelet command line: ${settings.commandLineFrom}`);
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
function previousEndpoints(settings: KubeletSettings, state: InstallState | undefined): PreviousEndpoints {
  const before = (name: 'runtime' | 'image', effective: EffectiveEndpoint, recorded: string | undefined): string => {
    let endpoint = effective.endpoint;
    if (isCriscopeEndpoint(endpoint)) {
      if (recorded === undefined) {
        throw new InstallError(
          NODE_PATHS.state,
          `no install record, yet kubelet already uses criscope (${effective.source}), so the runtime it used before is unknown; point kubelet back at its runtime and run install again`,
        );
      }
      endpoint = recorded;
    }
    if (unixSocketPath(endpoint) === undefined) throw new InstallError(NODE_PATHS.config, `kubelet's ${name} endpoint ${endpoint} (${effective.source}) is not a unix socket; criscope relays unix sockets only`);
    return endpoint;
  };
  // The runtime first: its message is the one to see when both are on criscope.
  const runtime = before('runtime', settings.runtime, state?.previousEndpoints.runtime);
  return { runtime, image: before('image', settings.image, state?.previousEndpoints.image) };
}

function withoutPendingRestart(state: InstallState): InstallState {
  const rest = { ...state };
  delete rest.kubeletRestartPending;
  return rest;
}
