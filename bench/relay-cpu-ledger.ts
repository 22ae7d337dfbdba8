// Adds up each relay's CPU time over the phases where it was measured, per kind of call.

import { cpuMicroseconds } from "./proc-stats.js";
import type { BenchTarget, RelayName, TargetName } from "./targets.js";

/** Sequential small calls, concurrent small calls, and the big ListContainers, kept apart. */
export type CpuBucket = "small c=1" | "small concurrent" | "ListContainers";

interface CpuTotal {
  calls: number;
  cpuMicroseconds: number;
}

export class RelayCpuLedger {
  private readonly totals = new Map<string, CpuTotal>();

  /**
   * Runs `phase` (which returns how many calls it made) and charges the relay's CPU to `bucket`,
   * including what it spends after the calls on their account (exporting their spans).
   */
  async measure(target: BenchTarget, bucket: CpuBucket, phase: () => Promise<number>): Promise<number> {
    const pid = target.relayPid;
    if (pid === undefined) return phase();
    const before = cpuMicroseconds(pid);
    const calls = await phase();
    await target.settle?.();
    this.record(target.name, bucket, calls, cpuMicroseconds(pid) - before);
    return calls;
  }

  /** Charges CPU time spent on `calls` calls to the relay's bucket. */
  record(relay: TargetName, bucket: CpuBucket, calls: number, spentMicroseconds: number): void {
    const key = `${relay}/${bucket}`;
    const total = this.totals.get(key) ?? { calls: 0, cpuMicroseconds: 0 };
    total.calls += calls;
    total.cpuMicroseconds += spentMicroseconds;
    this.totals.set(key, total);
  }

  microsecondsPerCall(relay: RelayName, bucket: CpuBucket): number | undefined {
    const total = this.totals.get(`${relay}/${bucket}`);
    return total === undefined || total.calls === 0 ? undefined : total.cpuMicroseconds / total.calls;
  }
}
