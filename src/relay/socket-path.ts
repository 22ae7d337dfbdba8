import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { ListenError } from '../errors.js';

/** Resolves true when something accepts connections on the unix socket at `path`. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (answers: boolean): void => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Makes `path` free to listen on: creates its directory, and removes a socket
 * file left by a dead process. A socket that still answers belongs to a live
 * server and is never taken over; a path that is not a socket is never removed.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ListenError(path, (error as Error).message, { cause: error });
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    return;
  }
  if (!stats.isSocket()) throw new ListenError(path, 'the path exists and is not a socket; remove it or choose another path (--listen, --image-listen or --admin-socket)');
  if (await socketAnswers(path)) throw new ListenError(path, 'another process is serving this socket (is criscope already running?)');
  await unlink(path);
}
