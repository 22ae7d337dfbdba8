import { renameSync } from 'node:fs';
import { InstallError } from '../errors.js';
import { copyOver, keepAs, sameBytes } from './executable-file.js';
import type { ExecutableSource, NodeFile } from './node-files.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import { octal, type InstallReport } from './report.js';

/** Where install keeps the node's previous executable until the new one answers (a second name for it, not a copy). */
export const PREVIOUS_EXECUTABLE = `${NODE_PATHS.executable}.previous`;

/** One of criscope's small files (a unit, the env file: a few KB) as it was before install replaced it. */
interface ReplacedFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly mode: number | undefined;
}

/** What a roll-back did, for the error that follows it. */
export interface RolledBack {
  /** Files put back as they were. */
  readonly restored: readonly string[];
  /** Files this install added, removed again. */
  readonly removed: readonly string[];
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/**
 * criscope's own files on the node (executable, units, kubelet's drop-in, env file,
 * config), placed by their policy, with what each replaced kept until the new criscope
 * answers: so that an upgrade whose criscope does not answer can be rolled back to the
 * criscope that did, kubelet being on it already.
 */
export class CriscopeFiles {
  private readonly replaced: ReplacedFile[] = [];
  private readonly created: string[] = [];
  private executableKept = false;
  /** Whether this run changed any of criscope's files (criscope.service then restarts). */
  changed = false;
  /**
   * Whether there is a criscope to go back to: its unit and executable are on the node,
   * and it answered once: the install record is written only after criscope answered (or,
   * with --systemd none, after the operator was given the commands); a first install that
   * failed leaves files but no record, and is nothing to go back to.
   */
  readonly hadCriscope: boolean;

  /** `runsSystemd`: whether install can roll back at all (it restarts criscope itself); else nothing is kept for it. */
  constructor(
    private readonly node: NodeRoot,
    private readonly report: InstallReport,
    private readonly runsSystemd: boolean,
    answeredBefore: boolean,
  ) {
    this.hadCriscope = answeredBefore && node.exists(NODE_PATHS.serviceUnit) && node.exists(NODE_PATHS.executable);
  }

  /** Whether anything was changed that a roll-back would undo. */
  get canRollBack(): boolean {
    return this.runsSystemd && this.hadCriscope && (this.replaced.length > 0 || this.created.length > 0 || this.executableKept);
  }

  /** Copies the executable when the node's differs (size, then sha256; never read into memory whole). */
  placeExecutable(source: ExecutableSource): void {
    const path = NODE_PATHS.executable;
    const target = this.hostPathOf(path);
    const mode = this.node.modeOf(path);
    if (mode === 0o755 && this.attempt(path, `compare with ${source.path}`, () => sameBytes(source.path, target))) {
      this.report.line(`${path}: unchanged`);
      return;
    }
    if (!this.node.dryRun) {
      if (mode !== undefined && this.runsSystemd && this.hadCriscope) {
        this.attempt(path, `keep as ${PREVIOUS_EXECUTABLE}`, () => keepAs(target, this.hostPathOf(PREVIOUS_EXECUTABLE)));
        this.executableKept = true;
      }
      if (mode === undefined) this.created.push(path);
      this.attempt(path, 'write', () => copyOver(source.path, target, 0o755));
    }
    this.changed = true;
    this.report.line(`${path}: ${mode === undefined ? 'installed' : 'replaced'} from ${source.path} (${source.from}), mode 0755`);
  }

  /** Writes one of criscope's files by its policy: kept when present and the operator's, else replaced when it differs. */
  place(file: NodeFile): void {
    const current = this.node.read(file.path);
    if (current !== undefined && file.existing === 'keep') {
      this.report.line(`${file.path}: kept (exists)`);
      return;
    }
    if (current !== undefined && current.toString('utf8') === file.content) {
      this.report.line(`${file.path}: unchanged`);
      return;
    }
    if (current === undefined) this.created.push(file.path);
    else this.replaced.push({ path: file.path, bytes: current, mode: this.node.modeOf(file.path) });
    this.node.write(file.path, file.content, file.mode);
    this.changed = true;
    this.report.line(`${file.path}: ${current === undefined ? 'written' : 'replaced'}, mode ${octal(file.mode)}${file.note === undefined ? '' : ` (${file.note})`}`);
  }

  /**
   * Puts the node's criscope files back as they were before this run: each replaced one
   * restored, the previous executable renamed back, and the files this run added
   * removed, but for the config. That one stays: the previous criscope's ExecStart reads
   * it too and cannot start without it, and install wrote it from kubelet's own
   * endpoints, so it relays where the previous criscope would.
   */
  rollBack(): RolledBack {
    const restored: string[] = [];
    for (const file of this.replaced) {
      this.node.write(file.path, file.bytes, file.mode);
      restored.push(file.path);
    }
    if (this.executableKept) {
      this.attempt(NODE_PATHS.executable, `put back from ${PREVIOUS_EXECUTABLE}`, () => renameSync(this.hostPathOf(PREVIOUS_EXECUTABLE), this.hostPathOf(NODE_PATHS.executable)));
      this.executableKept = false;
      restored.unshift(NODE_PATHS.executable);
    }
    const removed = this.created.filter((path) => path !== NODE_PATHS.config && this.node.remove(path));
    return { restored, removed };
  }

  /** The new criscope answers: the previous executable is no longer needed (nor one an interrupted run left). */
  commit(): void {
    if (this.node.remove(PREVIOUS_EXECUTABLE)) this.executableKept = false;
  }

  /** Where a node path really is in this process's file system, links on the way followed inside the root. */
  private hostPathOf(nodePath: string): string {
    return this.node.hostPath(this.node.resolve(nodePath));
  }

  private attempt<T>(path: string, action: string, step: () => T): T {
    try {
      return step();
    } catch (error) {
      throw new InstallError(path, `cannot ${action}: ${codeOf(error)}`, { cause: error });
    }
  }
}
