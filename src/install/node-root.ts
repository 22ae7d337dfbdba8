import { chmodSync, chownSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { InstallError } from '../errors.js';

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

function isMissing(error: unknown): boolean {
  return codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR';
}

/** Linux's own limit on the links followed for one path (MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;

/** What one node path is, its last part not followed: nothing, a symbolic link, or anything else. */
type Entry = { readonly kind: 'missing' } | { readonly kind: 'link'; readonly target: string } | { readonly kind: 'file' };

function partsOf(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/**
 * The node's file system as install and uninstall use it: paths are the node's own
 * (`/etc/criscope/criscope.yaml`), joined to the root here. Symbolic links are followed
 * as the node itself would follow them, inside the root: a kubelet config that is a link
 * (or in a linked directory) is read and written where it really is, and stays a link.
 * In a dry run nothing is written or removed: writes and removals are kept in memory and
 * later reads see them, so the plan printed is the one a real run would carry out.
 */
export class NodeRoot {
  /** Dry run only: what was written (with its mode) or removed (null), by resolved node path. */
  private readonly pretend = new Map<string, { readonly data: Buffer; readonly mode: number } | null>();

  constructor(
    readonly root: string,
    readonly dryRun: boolean,
  ) {}

  hostPath(nodePath: string): string {
    return join(this.root, nodePath);
  }

  /**
   * The node path `nodePath` leads to once every symbolic link on the way is followed:
   * an absolute link target starts again at the node's root (under --root /host, not at
   * the installer's own /), and `..` never climbs above the root. Parts after a missing
   * one are kept as written (a file about to be made). With `followLast` false a link at
   * the end is left as it is (to remove the link itself). Too many links (a loop) is
   * refused, naming the path.
   */
  resolve(nodePath: string, followLast = true): string {
    const resolved: string[] = [];
    const pending = partsOf(nodePath);
    let hops = 0;
    let missing = false;
    for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
      if (part === '..') {
        resolved.pop();
        continue;
      }
      if (missing || (pending.length === 0 && !followLast)) {
        resolved.push(part);
        continue;
      }
      const entry = this.entryAt(`/${[...resolved, part].join('/')}`);
      if (entry.kind === 'missing') missing = true;
      if (entry.kind !== 'link') {
        resolved.push(part);
        continue;
      }
      hops += 1;
      if (hops > MAX_LINK_HOPS) throw new InstallError(nodePath, `more than ${MAX_LINK_HOPS} symbolic links on the way (a loop?); point kubelet at the file itself`);
      if (entry.target.startsWith('/')) resolved.length = 0;
      pending.unshift(...partsOf(entry.target));
    }
    return `/${resolved.join('/')}`;
  }

  /** What is at a node path whose directories are already resolved; a dry run's writes and removals count. */
  private entryAt(nodePath: string): Entry {
    const pretended = this.pretend.get(nodePath);
    if (pretended !== undefined) return pretended === null ? { kind: 'missing' } : { kind: 'file' };
    const hostPath = this.hostPath(nodePath);
    try {
      if (!lstatSync(hostPath).isSymbolicLink()) return { kind: 'file' };
      return { kind: 'link', target: readlinkSync(hostPath) };
    } catch (error) {
      if (isMissing(error)) return { kind: 'missing' };
      throw new InstallError(nodePath, `cannot stat: ${codeOf(error)}`);
    }
  }

  /** The file's bytes (links followed); undefined when there is no such file. */
  read(nodePath: string): Buffer | undefined {
    const real = this.resolve(nodePath);
    const pretended = this.pretend.get(real);
    if (pretended !== undefined) return pretended?.data;
    try {
      return readFileSync(this.hostPath(real));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new InstallError(nodePath, `cannot read${real === posix.normalize(nodePath) ? '' : ` ${real}`}: ${codeOf(error)}`);
    }
  }

  readText(nodePath: string): string | undefined {
    return this.read(nodePath)?.toString('utf8');
  }

  /** Whether there is anything at the path itself: a file, a directory, or a link, even one that leads nowhere. */
  exists(nodePath: string): boolean {
    return this.entryAt(this.resolve(nodePath, false)).kind !== 'missing';
  }

  /** Permission bits of the file the path leads to (links followed); undefined when there is none. */
  modeOf(nodePath: string): number | undefined {
    const real = this.resolve(nodePath);
    const pretended = this.pretend.get(real);
    if (pretended !== undefined) return pretended?.mode;
    try {
      return lstatSync(this.hostPath(real)).mode & 0o7777;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new InstallError(nodePath, `cannot stat: ${codeOf(error)}`);
    }
  }

  /** Names in a directory (links followed), sorted; empty when there is no such directory. */
  list(nodeDir: string): string[] {
    try {
      return readdirSync(this.hostPath(this.resolve(nodeDir))).sort();
    } catch (error) {
      if (isMissing(error)) return [];
      throw new InstallError(nodeDir, `cannot list: ${codeOf(error)}`);
    }
  }

  /**
   * Replaces the file the path leads to whole (a link stays a link, and its target is
   * written), through a temporary file in the same directory and a rename, so that
   * kubelet, systemd or a crash never sees half a file, and a running executable is
   * replaced rather than overwritten. An existing file keeps its mode and owner unless
   * `mode` is given; a new one gets `mode` (0644 when not given).
   */
  write(nodePath: string, data: string | Buffer, mode?: number): void {
    const real = this.resolve(nodePath);
    if (this.dryRun) {
      this.pretend.set(real, { data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data, mode: mode ?? this.modeOf(real) ?? 0o644 });
      return;
    }
    const target = this.hostPath(real);
    let existing: { mode: number; uid: number; gid: number } | undefined;
    try {
      const stat = lstatSync(target);
      existing = { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
    } catch (error) {
      if (!isMissing(error)) throw new InstallError(nodePath, `cannot stat: ${codeOf(error)}`);
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
      throw new InstallError(nodePath, `cannot write${real === posix.normalize(nodePath) ? '' : ` ${real}`}: ${codeOf(error)}`);
    }
  }

  /** Removes what is at the path itself (a link, not what it leads to); whether there was anything. */
  remove(nodePath: string): boolean {
    const entry = this.resolve(nodePath, false);
    if (this.entryAt(entry).kind === 'missing') return false;
    if (this.dryRun) {
      this.pretend.set(entry, null);
      return true;
    }
    try {
      rmSync(this.hostPath(entry), { force: true });
    } catch (error) {
      throw new InstallError(nodePath, `cannot remove: ${codeOf(error)}`);
    }
    return true;
  }
}
