import { isDeepStrictEqual } from 'node:util';
import { InstallError } from '../errors.js';
import { editInPlace, type FileSwap } from './endpoint-swap.js';
import { editKey, writeInstallState, type EditRecord, type InstallState } from './install-state.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { shown, type InstallReport } from './report.js';

/**
 * Step 4 of install, kubelet's files onto criscope: the record first (with the restart
 * still to come), then each file whole. Either every file is written or none is: one
 * that cannot be written has those written before it put back, and the record with them.
 */

/** The recorded edits still in place; the others (kubeadm upgrade rewrote the file, say) are dropped from the record. */
export function keptEdits(node: NodeRoot, report: InstallReport, state: InstallState | undefined): EditRecord[] {
  const kept: EditRecord[] = [];
  for (const edit of state?.edits ?? []) {
    if (editInPlace(node.readText(edit.file), edit)) kept.push(edit);
    else report.line(`${edit.file}: ${edit.key} is no longer what install wrote (changed since); dropped from the record`);
  }
  return kept;
}

/** Backs up each file about to be edited, unless a kept edit shows criscope edited it already (the backup is then the file before that). */
export function backUpKubeletFiles(node: NodeRoot, report: InstallReport, swaps: readonly FileSwap[], kept: readonly EditRecord[]): void {
  for (const swap of swaps) {
    // Between planning and now criscope was started: make sure nobody wrote the file meanwhile.
    if (node.readText(swap.file) !== swap.before) throw new InstallError(swap.file, 'changed while install ran; kubelet was not changed; run install again');
  }
  for (const swap of swaps) {
    if (kept.some((edit) => edit.file === swap.file)) continue;
    const backup = swap.edits[0]?.backup;
    if (backup === undefined) continue;
    node.write(backup, swap.before, node.modeOf(swap.file));
    report.line(`${swap.file}: copied to ${backup}`);
  }
}

/** Writes the record when it differs from the node's (`updatedAt` aside); whether it did. */
export function writeRecord(node: NodeRoot, report: InstallReport, before: InstallState | undefined, next: InstallState): boolean {
  if (before !== undefined && isDeepStrictEqual({ ...before, updatedAt: '' }, { ...next, updatedAt: '' })) {
    report.line(`${NODE_PATHS.state}: unchanged`);
    return false;
  }
  writeInstallState(node, next);
  report.line(`${NODE_PATHS.state}: ${before === undefined ? 'written' : 'updated'} (${next.edits.length} kubelet edit${next.edits.length === 1 ? '' : 's'} recorded)`);
  return true;
}

/**
 * Writes each edited file whole (keeping its mode and owner) and says what changed in it.
 * When one cannot be written, the ones written before it are written back from their
 * text before, and the record is put back as it was (`before`, or none), so that kubelet
 * is left as it was, on either restart.
 */
export function writeKubeletFiles(node: NodeRoot, report: InstallReport, swaps: readonly FileSwap[], recordBefore: InstallState | undefined): void {
  const written: FileSwap[] = [];
  for (const swap of swaps) {
    try {
      node.write(swap.file, swap.after);
    } catch (error) {
      const reason = error instanceof InstallError ? error.reason : String(error);
      throw new InstallError(swap.file, `${reason}; ${putBack(node, report, written, recordBefore)}`);
    }
    written.push(swap);
    for (const edit of swap.edits) {
      report.line(`${swap.file}: ${editKey(edit)}: ${edit.present ? shown(edit.previousValue) : '(absent)'} → ${edit.writtenValue}${edit.present ? '' : ' (added)'}`);
    }
  }
}

/** Writes back the files already written and the record; says how that went, for the error. */
function putBack(node: NodeRoot, report: InstallReport, written: readonly FileSwap[], recordBefore: InstallState | undefined): string {
  const failed: string[] = [];
  for (const swap of [...written].reverse()) {
    try {
      node.write(swap.file, swap.before);
      report.line(`${swap.file}: put back as it was`);
    } catch (error) {
      failed.push(`${swap.file} (${error instanceof InstallError ? error.reason : String(error)}; its copy from before criscope is ${swap.edits[0]?.backup ?? '(none)'})`);
    }
  }
  if (failed.length > 0) return `the kubelet files written before it could not all be put back: ${failed.join(', ')}; restore them before kubelet restarts`;
  try {
    if (recordBefore === undefined) node.remove(NODE_PATHS.state);
    else writeInstallState(node, recordBefore);
  } catch (error) {
    // kubelet is as it was; the next install drops the edits the record names that are not there, and uninstall finds them "already" put back.
    report.line(`warning: ${NODE_PATHS.state}: could not be put back (${error instanceof InstallError ? error.reason : String(error)})`);
  }
  const what = written.length === 0 ? 'no kubelet file was written' : `${written.map((swap) => swap.file).join(', ')} ${written.length === 1 ? 'was' : 'were'} put back as ${written.length === 1 ? 'it was' : 'they were'}`;
  return `${what}, so kubelet was left as it was; run install again once the file can be written`;
}
