// Calls per second at a given concurrency, in timed runs that alternate between paths.

import { runCalls } from "./call-runner.js";
import type { CallSpec } from "./call-specs.js";
import type { CpuBucket, RelayCpuLedger } from "./relay-cpu-ledger.js";
import { rotated, type BenchTarget, type TargetName } from "./targets.js";

export interface ThroughputPlan {
  readonly concurrency: number;
  readonly rounds: number;
  readonly seconds: number;
  readonly cpuBucket: CpuBucket;
}

export async function measureThroughput(
  targets: readonly BenchTarget[],
  specs: readonly CallSpec[],
  plan: ThroughputPlan,
  ledger: RelayCpuLedger,
): Promise<Map<TargetName, number>> {
  const totals = new Map<TargetName, { calls: number; milliseconds: number }>();
  for (let round = 0; round < plan.rounds; round++) {
    for (const target of rotated(targets, round)) {
      const total = totals.get(target.name) ?? { calls: 0, milliseconds: 0 };
      await ledger.measure(target, plan.cpuBucket, async () => {
        const outcome = await runCalls(target.client, specs, plan.concurrency, { milliseconds: plan.seconds * 1000 });
        total.calls += outcome.calls;
        total.milliseconds += outcome.elapsedMilliseconds;
        return outcome.calls;
      });
      totals.set(target.name, total);
    }
  }
  return new Map([...totals].map(([name, total]) => [name, (total.calls * 1000) / total.milliseconds]));
}
