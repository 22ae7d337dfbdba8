import type { InstallOptions } from './install-options.js';
import { takeInstallLock } from './install-lock.js';
import { NodeRoot } from './node-root.js';
import { InstallReport } from './report.js';
import { createSystemctl } from './systemctl.js';
import { SystemdSteps } from './systemd-steps.js';

/** What one install or uninstall works with: the node's files, the report, and systemd. */
export interface NodeRun {
  readonly node: NodeRoot;
  readonly report: InstallReport;
  readonly steps: SystemdSteps;
}

/** Runs `body` as `command` on the node, holding the node's lock (one install or uninstall at a time). */
export async function runOnNode(command: 'install' | 'uninstall', options: InstallOptions, write: (line: string) => void, body: (run: NodeRun) => Promise<void> | void): Promise<void> {
  const node = new NodeRoot(options.root, options.dryRun);
  const report = new InstallReport(write, options.dryRun);
  const steps = new SystemdSteps(createSystemctl(options.systemd, options.dryRun), report, options.dryRun);
  if (options.dryRun) report.line(`nothing is changed: each line says what ${command} would do`);
  const lock = takeInstallLock(node, report, command);
  try {
    await body({ node, report, steps });
  } finally {
    lock.release();
  }
}
