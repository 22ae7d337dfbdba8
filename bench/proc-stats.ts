// A process's CPU time and resident memory, straight from /proc (Linux only, like CRI itself).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux we run on, but ask. */
const CLOCK_TICKS_PER_SECOND = readClockTicks();

/** The resolution of cpuMicroseconds: a reading is off by up to one tick. */
export const CPU_TICK_MICROSECONDS = 1_000_000 / CLOCK_TICKS_PER_SECOND;

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** utime + stime of every thread of the process, in microseconds (resolution: one clock tick). */
export function cpuMicroseconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; fields after its closing paren are plain.
  const afterCommand = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // afterCommand[0] is field 3 (state), so utime (field 14) is at 11 and stime (15) at 12.
  const ticks = Number(afterCommand[11]) + Number(afterCommand[12]);
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
