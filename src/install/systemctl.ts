import { spawnSync } from 'node:child_process';
import { SystemctlError } from '../errors.js';
import type { SystemdMode } from './install-options.js';

/** How install and uninstall reach systemd. */
export interface Systemctl {
  /** false with --systemd none and in a dry run: commands are then only named, for the operator to run. */
  readonly runs: boolean;
  /** Runs `systemctl …` when `runs`, and returns the command line either way. */
  run(args: readonly string[]): string;
}

/** PID 1's namespaces, from a pod with hostPID: systemctl there talks to the host's systemd. */
const NSENTER_PREFIX = ['-t', '1', '-m', '-u', '-i', '-n', '-p', '--', 'systemctl'];

/** systemctl waits for a restart to finish; kubelet's stop can take a while. */
const TIMEOUT_MS = 180_000;

export function createSystemctl(mode: SystemdMode, dryRun: boolean): Systemctl {
  const runs = mode !== 'none' && !dryRun;
  return {
    runs,
    run(args) {
      const command = `systemctl ${args.join(' ')}`;
      if (!runs) return command;
      const [program, argv] = mode === 'nsenter' ? ['nsenter', [...NSENTER_PREFIX, ...args]] : ['systemctl', [...args]];
      const result = spawnSync(program, argv, { encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
      if (result.error !== undefined) throw new SystemctlError(command, `cannot run ${program}: ${(result.error as NodeJS.ErrnoException).code ?? result.error.message}`);
      if (result.status !== 0) throw new SystemctlError(command, result.stderr.trim() || `exit status ${result.status ?? String(result.signal)}`);
      return command;
    },
  };
}
