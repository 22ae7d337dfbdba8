import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { InstallError } from '../errors.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';
import type { InstallReport } from './report.js';

/**
 * One install or uninstall at a time on a node: the installer DaemonSet's init container,
 * the uninstall Job and a hand run could otherwise interleave their edits of kubelet's
 * files and the record. The lock is a file made only if it is not there (link(2) of a
 * fully written temporary file: exclusive like O_EXCL, and never seen half written),
 * naming its holder.
 *
 * A holder that died (a killed pod, a crash) leaves its lock behind. It is taken over
 * when its process is gone: the lock records the holder's PID, its PID namespace and its
 * start time (/proc/PID/stat), since a PID alone may by now be another process's. That
 * can be checked only from the holder's PID namespace; the installer pods run with
 * hostPID, so they, the uninstall Job and a run on the host itself share the host's. A
 * lock from another PID namespace is refused with the holder named, for the operator to
 * remove when that run is gone.
 */

/** Beside the record it guards. */
export const LOCK_PATH = `${posix.dirname(NODE_PATHS.state)}/install.lock`;

interface Holder {
  readonly pid: number;
  /** `pid:[4026531836]`, as /proc/self/ns/pid reads; null when it could not be read. */
  readonly pidNamespace: string | null;
  /** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
  readonly startTicks: string | null;
  readonly hostname: string;
  readonly command: string;
  readonly since: string;
}

export interface InstallLock {
  release(): void;
}

/** In a dry run nothing is written, the lock included; a held one is mentioned, since the plan may change under it. */
export function takeInstallLock(node: NodeRoot, report: InstallReport, command: 'install' | 'uninstall'): InstallLock {
  const lockPath = node.hostPath(node.resolve(LOCK_PATH));
  if (node.dryRun) {
    const held = readHolder(lockPath);
    if (held !== undefined) report.line(`note: ${LOCK_PATH}: held by ${describe(held)}; what it is doing may change this plan`);
    return { release: () => undefined };
  }
  const directory = dirname(lockPath);
  let firstMade: string | undefined;
  try {
    firstMade = mkdirSync(directory, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new InstallError(posix.dirname(LOCK_PATH), `cannot make the directory: ${codeOf(error)}`);
  }
  const me: Holder = { pid: process.pid, pidNamespace: ownPidNamespace(), startTicks: startTicksOf(process.pid), hostname: hostname(), command, since: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  try {
    acquire(lockPath, text, command, report);
  } catch (error) {
    removeMadeDirectories(directory, firstMade);
    throw error;
  }
  return {
    release() {
      if (readText(lockPath) === text) rmSync(lockPath, { force: true });
      removeMadeDirectories(directory, firstMade);
    },
  };
}

/** Makes the lock, taking over a stale one; refuses, naming the holder, a live one. A few tries: another run may take over the same stale lock at once. */
function acquire(lockPath: string, text: string, command: string, report: InstallReport): void {
  const temporary = `${lockPath}.${process.pid}.tmp`;
  writeWhole(temporary, text);
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        linkSync(temporary, lockPath);
        return;
      } catch (error) {
        if (codeOf(error) !== 'EEXIST') throw new InstallError(LOCK_PATH, `cannot make the lock: ${codeOf(error)}`);
      }
      const heldText = readText(lockPath);
      if (heldText === undefined) continue;
      const holder = parseHolder(heldText);
      if (holder === undefined) throw new InstallError(LOCK_PATH, `held, but it does not read as criscope's lock (${JSON.stringify(heldText.slice(0, 80))}); if no criscope install or uninstall runs on this node, remove it and run again`);
      const alive = holderAlive(holder);
      if (alive === true) throw new InstallError(LOCK_PATH, `held by ${describe(holder)}; wait until it is done, then run ${command} again`);
      if (alive === undefined) throw new InstallError(LOCK_PATH, `held by ${describe(holder)}, in another PID namespace, so whether it still runs cannot be told from here; if it does not, remove ${LOCK_PATH} and run ${command} again`);
      if (takeOver(lockPath, heldText)) report.line(`${LOCK_PATH}: taken over from ${describe(holder)}, which no longer runs`);
    }
    throw new InstallError(LOCK_PATH, `could not take the lock after three tries: other runs keep taking it; run ${command} again`);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * Moves a stale lock aside under a name of this run's own (rename is atomic: of two runs
 * taking over at once, one gets it), and removes it if it is still the stale one. If
 * another run put its fresh lock there meanwhile, that one is put back.
 */
function takeOver(lockPath: string, staleText: string): boolean {
  const aside = `${lockPath}.${process.pid}.stale`;
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return false;
    throw new InstallError(LOCK_PATH, `cannot take over the stale lock: ${codeOf(error)}`);
  }
  if (readText(aside) === staleText) {
    rmSync(aside, { force: true });
    return true;
  }
  try {
    linkSync(aside, lockPath);
  } finally {
    rmSync(aside, { force: true });
  }
  return false;
}

/** true: it runs; false: it is gone (the lock is stale); undefined: it cannot be told from here. */
function holderAlive(holder: Holder): boolean | undefined {
  const own = ownPidNamespace();
  if (own === null || holder.pidNamespace !== own) return undefined;
  const ticks = startTicksOf(holder.pid);
  if (ticks === null) return false;
  // The same PID started at another time is another process: the holder is gone.
  return holder.startTicks === null || ticks === holder.startTicks;
}

function describe(holder: Holder): string {
  return `criscope ${holder.command} (PID ${holder.pid} on ${holder.hostname}, since ${holder.since})`;
}

function readHolder(lockPath: string): Holder | undefined {
  const text = readText(lockPath);
  return text === undefined ? undefined : parseHolder(text);
}

function parseHolder(text: string): Holder | undefined {
  try {
    const data = JSON.parse(text) as Partial<Holder> | null;
    if (typeof data?.pid !== 'number' || typeof data.command !== 'string') return undefined;
    return {
      pid: data.pid,
      pidNamespace: typeof data.pidNamespace === 'string' ? data.pidNamespace : null,
      startTicks: typeof data.startTicks === 'string' ? data.startTicks : null,
      hostname: typeof data.hostname === 'string' ? data.hostname : '?',
      command: data.command,
      since: typeof data.since === 'string' ? data.since : '?',
    };
  } catch {
    return undefined;
  }
}

function ownPidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/** The process's start time from /proc/PID/stat; null when there is no such process. */
export function startTicksOf(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return null;
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[22 - 3] ?? null;
}

function writeWhole(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Directories made for the lock alone (a run refused before it wrote anything) go with it, when empty. */
function removeMadeDirectories(directory: string, firstMade: string | undefined): void {
  if (firstMade === undefined) return;
  const depth = relative(firstMade, directory).split('/').filter((part) => part !== '').length;
  let current = directory;
  for (let level = 0; level <= depth; level += 1) {
    try {
      rmdirSync(current);
    } catch {
      return;
    }
    current = join(current, '..');
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
