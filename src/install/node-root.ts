import { chmodSync, chownSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InstallError } from '../errors.js';

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/**
 * The node's file system as install and uninstall use it: paths are the node's own
 * (`/etc/criscope/criscope.yaml`), joined to the root here. In a dry run nothing is
 * written or removed: writes and removals are kept in memory and later reads see them,
 * so the plan printed is the one a real run would carry out.
 */
export class NodeRoot {
  /** Dry run only: what was written (with its mode) or removed (null), by node path. */
  private readonly pretend = new Map<string, { readonly data: Buffer; readonly mode: number } | null>();

  constructor(
    readonly root: string,
    readonly dryRun: boolean,
  ) {}

  hostPath(nodePath: string): string {
    return join(this.root, nodePath);
  }

  /** The file's bytes; undefined when there is no such file. */
  read(nodePath: string): Buffer | undefined {
    const pretended = this.pretend.get(nodePath);
    if (pretended !== undefined) return pretended?.data;
    try {
      return readFileSync(this.hostPath(nodePath));
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return undefined;
      throw new InstallError(nodePath, `cannot read: ${codeOf(error)}`);
    }
  }

  readText(nodePath: string): string | undefined {
    return this.read(nodePath)?.toString('utf8');
  }

  exists(nodePath: string): boolean {
    return this.modeOf(nodePath) !== undefined;
  }

  /** Permission bits of the file (links not followed); undefined when there is none. */
  modeOf(nodePath: string): number | undefined {
    const pretended = this.pretend.get(nodePath);
    if (pretended !== undefined) return pretended?.mode;
    try {
      return lstatSync(this.hostPath(nodePath)).mode & 0o7777;
    } catch (error) {
      if (codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR') return undefined;
      throw new InstallError(nodePath, `cannot stat: ${codeOf(error)}`);
    }
  }

  /** Names in a directory, sorted; empty when there is no such directory. */
  list(nodeDir: string): string[] {
    try {
      return readdirSync(this.hostPath(nodeDir)).sort();
    } catch (error) {
      if (codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR') return [];
      throw new InstallError(nodeDir, `cannot list: ${codeOf(error)}`);
    }
  }

  /**
   * Replaces the file whole, through a temporary file in the same directory and a
   * rename, so that kubelet, systemd or a crash never sees half a file, and a running
   * executable is replaced rather than overwritten. An existing file keeps its mode and
   * owner unless `mode` is given; a new one gets `mode` (0644 when not given).
   */
  write(nodePath: string, data: string | Buffer, mode?: number): void {
    if (this.dryRun) {
      this.pretend.set(nodePath, { data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data, mode: mode ?? this.modeOf(nodePath) ?? 0o644 });
      return;
    }
    const target = this.hostPath(nodePath);
    let existing: { mode: number; uid: number; gid: number } | undefined;
    try {
      const stat = lstatSync(target);
      existing = { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
    } catch (error) {
      if (codeOf(error) !== 'ENOENT') throw new InstallError(nodePath, `cannot stat: ${codeOf(error)}`);
    }
    const temporary = join(dirname(target), `.${basename(target)}.criscope-${process.pid}.tmp`);
    try {
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      const fd = openSync(temporary, 'w', 0o600);
      try {
        writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      chmodSync(temporary, mode ?? existing?.mode ?? 0o644);
      const self = lstatSync(temporary);
      if (existing !== undefined && (existing.uid !== self.uid || existing.gid !== self.gid)) chownSync(temporary, existing.uid, existing.gid);
      renameSync(temporary, target);
    } catch (error) {
      rmSync(temporary, { force: true });
      if (error instanceof InstallError) throw error;
      throw new InstallError(nodePath, `cannot write: ${codeOf(error)}`);
    }
  }

  /** Removes the file; whether there was one. */
  remove(nodePath: string): boolean {
    if (!this.exists(nodePath)) return false;
    if (this.dryRun) {
      this.pretend.set(nodePath, null);
      return true;
    }
    try {
      rmSync(this.hostPath(nodePath), { force: true });
    } catch (error) {
      throw new InstallError(nodePath, `cannot remove: ${codeOf(error)}`);
    }
    return true;
  }
}
