import { readFileSync, readlinkSync } from 'node:fs';

/** The first file descriptor systemd passes (sd_listen_fds(3): SD_LISTEN_FDS_START). */
const FIRST_PASSED_FD = 3;

/**
 * The listening sockets systemd passed to this process (socket activation, as
 * sd_listen_fds(3) describes it): fds 3 … 3+LISTEN_FDS-1, when LISTEN_PID names this
 * process. Variables meant for another process (a parent that did not clear them) pass
 * nothing. Removes the variables, so that nothing criscope starts inherits them.
 */
export function takeSystemdListenFds(env: NodeJS.ProcessEnv, pid: number): number[] {
  const count = Number(env['LISTEN_FDS']);
  const forUs = Number(env['LISTEN_PID']) === pid;
  delete env['LISTEN_FDS'];
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDNAMES'];
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => FIRST_PASSED_FD + index);
}

/**
 * The file path a passed unix socket is bound to, from the kernel's table of unix
 * sockets (Node cannot ask the socket itself: its address is unknown for an adopted fd).
 */
export function boundPathOfFd(fd: number): string | undefined {
  const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  if (inode === undefined) return undefined;
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields[6] === inode && fields.length > 7) return fields.slice(7).join(' ');
  }
  return undefined;
}
