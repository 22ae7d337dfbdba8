// Latency of one call, sequential, in batches that alternate between paths.

import type { CallSpec } from "./call-specs.js";
import { summarizeLatencies, type LatencySummary } from "./latency-stats.js";
import type { CpuBucket, RelayCpuLedger } from "./relay-cpu-ledger.js";
import { rotated, type BenchTarget, type TargetName } from "./targets.js";

export interface LatencyPlan {
  readonly rounds: number;
  readonly batch: number;
  readonly cpuBucket: CpuBucket;
}

export async function measureLatency(
  targets: readonly BenchTarget[],
  spec: CallSpec,
  plan: LatencyPlan,
  ledger: RelayCpuLedger,
): Promise<Map<TargetName, LatencySummary>> {
  const samples = new Map<TargetName, number[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < plan.rounds; round++) {
    for (const target of rotated(targets, round)) {
      const into = samples.get(target.name) ?? [];
      await ledger.measure(target, plan.cpuBucket, async () => {
        for (let i = 0; i < plan.batch; i++) {
          const started = process.hrtime.bigint();
          await spec.invoke(target.client);
          into.push(Number(process.hrtime.bigint() - started) / 1000);
        }
        return plan.batch;
      });
    }
  }
  return new Map([...samples].map(([name, values]) => [name, summarizeLatencies(values)]));
}
