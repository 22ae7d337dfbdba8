import { InstallError } from '../errors.js';
import { restoreEdit } from './endpoint-swap.js';
import type { InstallOptions } from './install-options.js';
import { PREVIOUS_EXECUTABLE } from './criscope-files.js';
import { editKey, readInstallState, type InstallState } from './install-state.js';
import { readKubeletSettings, type KubeletSettings } from './kubelet-settings.js';
import { BACKUP_SUFFIX, ENABLE_LINKS, isCriscopeEndpoint, NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { runOnNode } from './node-run.js';
import { shown, type InstallReport } from './report.js';
import type { SystemdSteps } from './systemd-steps.js';

/** What uninstall removes: criscope's executable and units. The config, env file and backups are the operator's and stay. */
const REMOVED = [NODE_PATHS.kubeletDropIn, NODE_PATHS.serviceUnit, NODE_PATHS.socketUnit, NODE_PATHS.executable, PREVIOUS_EXECUTABLE, NODE_PATHS.refusedUpgrade];
const KEPT = [NODE_PATHS.config, NODE_PATHS.envFile];

/**
 * `criscope uninstall`: kubelet back onto its runtime first (each recorded edit put back
 * exactly, kubelet restarted), and only then criscope stopped and removed, so kubelet is
 * never left pointing at a socket nobody serves. The install record goes last: a run cut
 * short can be run again. One install or uninstall at a time (a lock).
 */
export function uninstall(options: InstallOptions, write: (line: string) => void): Promise<void> {
  return runOnNode('uninstall', options, write, ({ node, report, steps }) => uninstallSteps(options, node, report, steps));
}

function uninstallSteps(options: InstallOptions, node: NodeRoot, report: InstallReport, steps: SystemdSteps): void {
  const state = readInstallState(node);
  if (state === undefined) {
    refuseWhenOnCriscope(node, readKubeletSettings(node, options.kubeletConfig, { uneditableFlags: 'report' }));
    report.line(`${NODE_PATHS.state}: none; kubelet does not use criscope, so none of its files are changed`);
  } else {
    restoreKubelet(node, report, state);
    const after = readKubeletSettings(node, options.kubeletConfig ?? state.kubeletConfig, { uneditableFlags: 'report' });
    const stillOn = [after.runtime, after.image].find((effective) => isCriscopeEndpoint(effective.endpoint));
    if (stillOn !== undefined) {
      throw new InstallError(
        stillOn.file ?? NODE_PATHS.state,
        `kubelet still uses criscope (${stillOn.source}) after criscope's own edits were put back; point it at ${state.previousEndpoints.runtime} by hand and run uninstall again (criscope was left running)`,
      );
    }
  }
  // With a record, kubelet is restarted whether or not this run changed its files: a run
  // cut short after it put them back (or an install's restart that failed) leaves kubelet
  // on criscope until it restarts, and criscope is stopped next.
  if (state !== undefined) steps.run(['restart', 'kubelet'], `kubelet's files name its runtime again, criscope was left running, and ${NODE_PATHS.state} is kept: run uninstall again (it restarts kubelet first)`);

  const installed = [...REMOVED, ...ENABLE_LINKS].filter((path) => node.exists(path));
  if (installed.length > 0) {
    if (node.exists(NODE_PATHS.serviceUnit) || node.exists(NODE_PATHS.socketUnit)) {
      // With no systemd to talk to, the operator stops it (a unit whose file is gone can still be stopped, not disabled).
      steps.run(steps.runs ? ['disable', '--now', 'criscope.service', 'criscope.socket'] : ['stop', 'criscope.service', 'criscope.socket']);
    }
    for (const path of [...REMOVED, ...ENABLE_LINKS]) if (node.remove(path)) report.line(`${path}: removed`);
    steps.run(['daemon-reload']);
  }
  for (const path of KEPT) if (node.exists(path)) report.line(`${path}: kept`);
  const kubeletFiles = state === undefined ? [] : state.edits.map((edit) => edit.file);
  for (const backup of backupsOf(node, kubeletFiles)) report.line(`${backup}: kept`);
  if (state !== undefined && node.remove(NODE_PATHS.state)) report.line(`${NODE_PATHS.state}: removed`);
  steps.finish();
  if (state === undefined && installed.length === 0) report.line('nothing to undo');
  else if (steps.runs) report.line('done: kubelet uses its runtime directly; criscope is removed');
  else report.line("done: kubelet's files name its runtime again; criscope's files are removed");
}

/** Without a record there is nothing to put back; if kubelet still uses criscope, removing criscope would strand it. */
function refuseWhenOnCriscope(node: NodeRoot, settings: KubeletSettings): void {
  const onCriscope = [settings.runtime, settings.image].find((effective) => isCriscopeEndpoint(effective.endpoint));
  if (onCriscope === undefined) return;
  const backups = backupsOf(node, [settings.configFile, ...settings.configDropIns, ...settings.flagFiles.map((file) => file.path)]);
  throw new InstallError(
    NODE_PATHS.state,
    `no install record, and kubelet uses criscope (${onCriscope.source}); ${backups.length > 0 ? `the files as they were before install are in ${backups.join(', ')}; ` : ''}point kubelet back at its runtime by hand, then run uninstall again`,
  );
}

/** Puts back every recorded edit, last first. */
function restoreKubelet(node: NodeRoot, report: InstallReport, state: InstallState): void {
  const files = [...new Set(state.edits.map((edit) => edit.file))];
  for (const file of files) {
    const original = node.readText(file);
    if (original === undefined) {
      report.line(`warning: ${file}: missing; its edits were not put back`);
      continue;
    }
    let text = original;
    for (const edit of state.edits.filter((candidate) => candidate.file === file).reverse()) {
      const outcome = restoreEdit(text, edit);
      const key = editKey(edit);
      const before = edit.present ? shown(edit.previousValue) : '(absent)';
      if (outcome.kind === 'restored') {
        text = outcome.text;
        report.line(`${file}: ${key}: ${edit.writtenValue} → ${before}${edit.present ? '' : ' (removed)'}`);
      } else if (outcome.kind === 'already') {
        report.line(`${file}: ${key}: already ${before}`);
      } else {
        report.line(`warning: ${file}: ${key} was changed since install (it is no longer ${edit.writtenValue}); left as it is`);
      }
    }
    if (text !== original) node.write(file, text);
  }
}

/** The backups install made of these kubelet files that are on the node. */
function backupsOf(node: NodeRoot, kubeletFiles: readonly (string | undefined)[]): string[] {
  const candidates = kubeletFiles.filter((file): file is string => file !== undefined).map((file) => file + BACKUP_SUFFIX);
  return [...new Set(candidates)].filter((path) => node.exists(path));
}
