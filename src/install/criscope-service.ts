import { InstallError, NotAnsweringError, SystemctlError } from '../errors.js';
import { PREVIOUS_EXECUTABLE, type CriscopeFiles, type RolledBack } from './criscope-files.js';
import { CRISCOPE_ENDPOINT, CRISCOPE_IMAGE_ENDPOINT, NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { waitForCriscope, type CriscopeSockets } from './readiness.js';
import { forgetRefusedUpgrade, rememberRefusedUpgrade } from './refused-upgrade.js';
import type { InstallReport } from './report.js';
import type { SystemdSteps } from './systemd-steps.js';

/** What install knows when it brings criscope up, before kubelet is moved onto it. */
export interface CriscopeStart {
  readonly node: NodeRoot;
  readonly report: InstallReport;
  readonly steps: SystemdSteps;
  readonly files: CriscopeFiles;
  /** Whether kubelet's image endpoint goes to criscope-image.sock (then that socket must answer too). */
  readonly imageSplit: boolean;
  readonly waitSeconds: number;
  /** kubelet's runtime endpoint as it is now, for the message when criscope does not answer. */
  readonly kubeletRuntime: string;
  /** Whether kubelet's files name criscope already (an upgrade): criscope must then never be left stopped. */
  readonly kubeletOnCriscope: boolean;
  /** Whether kubelet is to be restarted onto criscope after this (the operator then checks criscope first). */
  readonly kubeletMoves: boolean;
  /** What this install puts on the node, remembered when it is rolled back (refused-upgrade.ts). */
  readonly upgradeDigest: string;
}

/**
 * Starts (or, when its files changed, restarts) criscope.service and waits until every
 * socket kubelet will be pointed at answers. When criscope does not answer, kubelet is
 * not touched, and criscope is not left as it is: an upgrade is rolled back to the
 * criscope that answered before; a first install is stopped and disabled, since systemd
 * would otherwise restart it every second, for ever.
 */
export async function startCriscopeService(start: CriscopeStart): Promise<void> {
  const { steps, files } = start;
  if (steps.runs || files.changed) {
    steps.run(['daemon-reload']);
    steps.run(['enable', 'criscope.socket', 'criscope.service']);
    // start is a no-op when it runs already: nothing of criscope's changed, so no restart.
    steps.run([files.changed ? 'restart' : 'start', 'criscope.service']);
  }
  if (!steps.runs) {
    if (start.kubeletMoves) {
      steps.operatorStep(`crictl --runtime-endpoint ${CRISCOPE_ENDPOINT} version   # must answer before kubelet restarts`);
      if (start.imageSplit) steps.operatorStep(`crictl --image-endpoint ${CRISCOPE_IMAGE_ENDPOINT} imagefsinfo   # this one too`);
    }
    return;
  }
  const sockets = socketsOf(start);
  try {
    const answer = await waitForCriscope(sockets, start.waitSeconds);
    start.report.line(`${NODE_PATHS.socket}: criscope answers (${answer.version.runtimeName} ${answer.version.runtimeVersion} behind it)`);
    if (answer.imageFilesystems !== undefined) start.report.line(`${NODE_PATHS.imageSocket}: criscope answers (the image service behind it reports ${answer.imageFilesystems} image file system${answer.imageFilesystems === 1 ? '' : 's'})`);
  } catch (error) {
    if (!(error instanceof NotAnsweringError)) throw error;
    const socket = error.socket === 'image' ? NODE_PATHS.imageSocket : NODE_PATHS.socket;
    const outcome = await afterNoAnswer(start, sockets, `${error.call}: ${error.reason}`);
    throw new InstallError(socket, `criscope did not answer ${error.call} within ${start.waitSeconds} s (${error.reason}); kubelet was left on ${start.kubeletRuntime}${outcome}; journalctl -u criscope.service says why`, { cause: error });
  }
  files.commit();
  forgetRefusedUpgrade(start.node);
}

function socketsOf(start: CriscopeStart): CriscopeSockets {
  return { runtime: start.node.hostPath(NODE_PATHS.socket), image: start.imageSplit ? start.node.hostPath(NODE_PATHS.imageSocket) : undefined };
}

/** What became of criscope after it did not answer, as the end of the error's sentence. */
async function afterNoAnswer(start: CriscopeStart, sockets: CriscopeSockets, reason: string): Promise<string> {
  const { steps, files } = start;
  if (files.canRollBack) {
    let rolledBack: RolledBack;
    try {
      rolledBack = files.rollBack();
      steps.run(['daemon-reload']);
      steps.run(['restart', 'criscope.service']);
    } catch (error) {
      if (!(error instanceof InstallError || error instanceof SystemctlError)) throw error;
      return `; putting the previous criscope back failed (${error.message}), so kubelet may have no runtime: put back ${PREVIOUS_EXECUTABLE} as ${NODE_PATHS.executable} if it is there, and restart criscope.service`;
    }
    try {
      await waitForCriscope(sockets, start.waitSeconds);
      rememberRefusedUpgrade(start.node, start.upgradeDigest, reason);
      return `; ${rollBackSaid(rolledBack)}, and that criscope answers; installing these same files again is refused (${NODE_PATHS.refusedUpgrade})`;
    } catch (error) {
      return `; ${rollBackSaid(rolledBack)}, but that criscope does not answer either (${(error as Error).message})`;
    }
  }
  if (!files.hadCriscope && !start.kubeletOnCriscope) {
    try {
      steps.run(['disable', '--now', 'criscope.service', 'criscope.socket']);
    } catch (error) {
      if (!(error instanceof SystemctlError)) throw error;
      return `; there was no criscope before this install, and stopping this one failed too (${error.message}): run systemctl disable --now criscope.service criscope.socket`;
    }
    return '; there was no criscope before this install, so criscope.service and criscope.socket were stopped and disabled (systemd would restart it every second otherwise); its files stay for a look, and `criscope uninstall` removes them';
  }
  return '';
}

function rollBackSaid({ restored, removed }: RolledBack): string {
  const parts: string[] = [];
  if (restored.length > 0) parts.push(`the previous ${restored.join(', ')} ${restored.length === 1 ? 'is' : 'are'} back`);
  if (removed.length > 0) parts.push(`${removed.join(', ')} (not there before) ${removed.length === 1 ? 'is' : 'are'} removed`);
  return parts.join(', ');
}
