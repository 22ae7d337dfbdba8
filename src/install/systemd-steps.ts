import { SystemctlError } from '../errors.js';
import type { InstallReport } from './report.js';
import type { Systemctl } from './systemctl.js';

/**
 * The systemd side of install and uninstall, in the order given: each command is run and
 * reported (host, nsenter), or kept for the list the operator is told to run, in order
 * (none, dry run).
 */
export class SystemdSteps {
  private readonly toRun: string[] = [];

  constructor(
    private readonly systemctl: Systemctl,
    private readonly report: InstallReport,
    private readonly dryRun: boolean,
  ) {}

  /** Whether commands are run here (else they are listed for the operator). */
  get runs(): boolean {
    return this.systemctl.runs;
  }

  /** Runs (or lists) `systemctl <args>`; `whereThatLeaves`, when given, is added to the error of a command that fails. */
  run(args: readonly string[], whereThatLeaves?: string): void {
    let command: string;
    try {
      command = this.systemctl.run(args);
    } catch (error) {
      if (whereThatLeaves === undefined || !(error instanceof SystemctlError)) throw error;
      throw new SystemctlError(error.command, `${error.reason}; ${whereThatLeaves}`);
    }
    if (this.systemctl.runs) this.report.line(`ran: ${command}`);
    else this.toRun.push(command);
  }

  /** A step that is not systemctl's, for the operator's list (a check to make). */
  operatorStep(command: string): void {
    if (!this.systemctl.runs) this.toRun.push(command);
  }

  /** Prints the list the operator is to run, when there is one. */
  finish(): void {
    if (this.toRun.length === 0) return;
    this.report.line(this.dryRun ? 'the commands, in this order:' : 'run these on the node, in this order:');
    for (const command of this.toRun) this.report.line(`  ${command}`);
  }
}
