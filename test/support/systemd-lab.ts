import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LAB_SCRIPT = fileURLToPath(new URL('../../../scripts/test-runtime/systemd-lab.sh', import.meta.url));

export interface LabResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function lab(args: readonly string[], timeoutMs = 90_000): LabResult {
  const result = spawnSync('bash', [LAB_SCRIPT, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function labOrThrow(args: readonly string[]): string {
  const result = lab(args);
  if (result.status !== 0) throw new Error(`systemd-lab.sh ${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout.trim();
}

/**
 * A systemd node for tests (scripts/test-runtime/systemd-lab.sh): the host's systemd
 * booted in systemd-nspawn, with the test containerd's socket at /run/containerd.
 * Booted without criscope, so that tests install it as an operator would.
 */
export class SystemdLab {
  readonly root: string;
  private readonly leader: string;

  private constructor() {
    this.root = labOrThrow(['root']);
    this.leader = labOrThrow(['leader']);
  }

  static boot(): SystemdLab {
    lab(['down']);
    labOrThrow(['up', '--no-criscope']);
    return new SystemdLab();
  }

  /** Runs a command inside the node, in all its namespaces. */
  exec(...command: string[]): LabResult {
    return lab(['exec', ...command]);
  }

  systemctl(...args: string[]): string {
    return this.exec('systemctl', ...args).stdout.trim();
  }

  /** A path inside the node, as seen from the host (its /run is the node's own tmpfs). */
  hostPath(path: string): string {
    return `/proc/${this.leader}/root${path}`;
  }

  /** The node's journal for one unit. */
  journal(unit: string): string {
    return this.exec('journalctl', '--no-pager', '-o', 'cat', '-u', unit).stdout;
  }

  down(): void {
    lab(['down']);
  }
}
