// Latency of a call that comes after its path sat idle: kubelet's calls come in bursts with quiet
// in between, and a relay may pay for idleness (timers, cold caches, shrunken windows) on the next call.

import { setTimeout as sleep } from "node:timers/promises";
import type { CallSpec } from "./call-specs.js";
import { summarizeLatencies, type LatencySummary } from "./latency-stats.js";
import { rotated, type BenchTarget, type TargetName } from "./targets.js";

export interface IdleGapPlan {
  /** Calls per path and spec. */
  readonly samples: number;
  readonly gapSeconds: number;
}

/** Per spec, each path's latencies; every call comes at least gapSeconds after that path's previous one ended. */
export async function measureAfterIdleGaps(
  targets: readonly BenchTarget[],
  specs: readonly CallSpec[],
  plan: IdleGapPlan,
): Promise<Map<string, Map<TargetName, LatencySummary>>> {
  const samples = new Map(specs.map((spec) => [spec.label, new Map<TargetName, number[]>(targets.map((target) => [target.name, []]))]));
  const lastEnded = new Map<TargetName, number>(targets.map((target) => [target.name, performance.now()]));
  for (let round = 0; round < plan.samples; round++) {
    for (const spec of specs) {
      for (const target of rotated(targets, round)) {
        const idleUntil = (lastEnded.get(target.name) ?? 0) + plan.gapSeconds * 1000;
        await sleep(Math.max(0, idleUntil - performance.now()));
        const started = process.hrtime.bigint();
        await spec.invoke(target.client);
        samples.get(spec.label)?.get(target.name)?.push(Number(process.hrtime.bigint() - started) / 1000);
        lastEnded.set(target.name, performance.now());
      }
    }
  }
  return new Map([...samples].map(([label, byTarget]) => [label, new Map([...byTarget].map(([name, values]) => [name, summarizeLatencies(values)]))]));
}
