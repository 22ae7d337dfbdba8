import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, copyFileSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * The executable is about 100 MB: install compares and copies it as a file, a chunk at a
 * time, so that its own memory stays far below the installer pod's limit (holding the new
 * copy and the node's one in Buffers took ~300 MB resident).
 */

const CHUNK_BYTES = 1 << 20;

/** The file's sha256, read a chunk at a time. */
export function sha256Of(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (let read = readSync(fd, chunk, 0, CHUNK_BYTES, null); read > 0; read = readSync(fd, chunk, 0, CHUNK_BYTES, null)) hash.update(chunk.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Whether two files hold the same bytes: sizes first, then their sha256, streamed. */
export function sameBytes(a: string, b: string): boolean {
  if (statSync(a).size !== statSync(b).size) return false;
  return sha256Of(a) === sha256Of(b);
}

/**
 * Copies `source` over `target` as one step for everyone else: the copy (done by the
 * kernel, not through this process's memory) goes to a temporary file beside the target,
 * gets `mode` and the target's owner, reaches the disk, and is renamed over the target.
 * A running criscope keeps the file it started from; systemd's next start finds the new
 * one whole. Paths are this process's own (the node's root joined already).
 */
export function copyOver(source: string, target: string, mode: number): void {
  let owner: { uid: number; gid: number } | undefined;
  try {
    const stat = lstatSync(target);
    owner = { uid: stat.uid, gid: stat.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  const temporary = join(dirname(target), `.${basename(target)}.criscope-${process.pid}.tmp`);
  try {
    copyFileSync(source, temporary);
    chmodSync(temporary, mode);
    const self = lstatSync(temporary);
    if (owner !== undefined && (owner.uid !== self.uid || owner.gid !== self.gid)) chownSync(temporary, owner.uid, owner.gid);
    const fd = openSync(temporary, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Keeps the file at `path` under `keptAs` too, without copying its bytes: a second name
 * for the same file (a hard link: it stays when `path` is renamed over), or, where the
 * file system has no hard links, a copy.
 */
export function keepAs(path: string, keptAs: string): void {
  rmSync(keptAs, { force: true });
  try {
    linkSync(path, keptAs);
  } catch {
    copyFileSync(path, keptAs);
  }
}
