// One backend's full set of measurements, every path in the same run: warm-up, latency,
// throughput, relay CPU, calls after idle gaps, and (when asked) the relays' memory over many calls.

import { createHash } from "node:crypto";
import { runCalls } from "./call-runner.js";
import type { CallSpec } from "./call-specs.js";
import type { BenchConfig } from "./config.js";
import type { LatencySummary } from "./latency-stats.js";
import { measureLatency } from "./measure-latency.js";
import { measureAfterIdleGaps } from "./measure-idle-gap.js";
import { measureRss, type RssRun } from "./measure-rss.js";
import { measureThroughput } from "./measure-throughput.js";
import type { TelemetrySpans } from "./otlp-sink.js";
import { progress } from "./progress.js";
import { RelayCpuLedger } from "./relay-cpu-ledger.js";
import type { BenchTarget, RelayName, TargetName } from "./targets.js";

export interface BigCall {
  readonly spec: CallSpec;
  /** sha256 of the answer as the backend sent it: each path must deliver exactly these bytes. */
  readonly expectedSha256: string;
}

export interface SuitePlan {
  readonly backendLabel: string;
  readonly targets: readonly BenchTarget[];
  readonly smallSpecs: readonly CallSpec[];
  readonly bigCall?: BigCall;
  /** Timed one at a time, each after its path sat idle (config.idleGapSeconds). */
  readonly idleGapSpecs: readonly CallSpec[];
  /** Whether to run the RSS phase (criscope and nghttpx). */
  readonly measureRss: boolean;
  readonly config: BenchConfig;
}

export interface LatencyRow {
  readonly label: string;
  readonly isSmallCall: boolean;
  readonly byTarget: ReadonlyMap<TargetName, LatencySummary>;
}

/** Calls after idle gaps: every call is one of its kind, so no small/big split. */
export type IdleGapRow = Omit<LatencyRow, "isSmallCall">;

export interface ThroughputRow {
  readonly concurrency: number;
  readonly callsPerSecond: ReadonlyMap<TargetName, number>;
}

export interface SuiteResult {
  readonly backendLabel: string;
  readonly targetNames: readonly TargetName[];
  readonly latencyRows: readonly LatencyRow[];
  readonly throughputRows: readonly ThroughputRow[];
  readonly relayCpu: RelayCpuLedger;
  readonly bigCallByteExact: ReadonlyMap<TargetName, boolean>;
  /** Latency of calls that each came after their path sat idle. */
  readonly idleGapRows: readonly IdleGapRow[];
  readonly rss: ReadonlyMap<RelayName, RssRun>;
  /** Whether criscope+telemetry traced every call; absent when it did not run. */
  readonly telemetrySpans?: TelemetrySpans;
}

export async function runSuite(plan: SuitePlan): Promise<SuiteResult> {
  const { config, targets, smallSpecs } = plan;
  const ledger = new RelayCpuLedger();

  progress(`${plan.backendLabel}: warming up ${targets.map((target) => target.name).join(", ")}`);
  for (const target of targets) {
    // Both shapes of load, so JIT, buffers and HTTP/2 windows are settled for every phase.
    await runCalls(target.client, smallSpecs, 1, { calls: Math.ceil(config.warmupCalls / 2) });
    await runCalls(target.client, smallSpecs, config.highConcurrency, { calls: Math.ceil(config.warmupCalls / 2) });
  }
  const bigCallByteExact = plan.bigCall === undefined ? new Map<TargetName, boolean>() : await checkByteExact(targets, plan.bigCall);
  // Spans from the warm-up are exported now, not during the first measured phase.
  for (const target of targets) await target.settle?.();

  const latencyRows: LatencyRow[] = [];
  for (const spec of smallSpecs) {
    progress(`${plan.backendLabel}: latency of ${spec.label}`);
    const latencyPlan = { rounds: config.latencyRounds, batch: config.latencyBatch, cpuBucket: "small c=1" } as const;
    latencyRows.push({ label: spec.label, isSmallCall: true, byTarget: await measureLatency(targets, spec, latencyPlan, ledger) });
  }
  if (plan.bigCall !== undefined) {
    progress(`${plan.backendLabel}: latency of ${plan.bigCall.spec.label}`);
    const latencyPlan = { rounds: config.bigRounds, batch: config.bigBatch, cpuBucket: "ListContainers" } as const;
    const byTarget = await measureLatency(targets, plan.bigCall.spec, latencyPlan, ledger);
    latencyRows.push({ label: plan.bigCall.spec.label, isSmallCall: false, byTarget });
  }

  const throughputRows: ThroughputRow[] = [];
  for (const concurrency of [1, config.highConcurrency]) {
    progress(`${plan.backendLabel}: throughput at concurrency ${concurrency}`);
    const cpuBucket = concurrency === 1 ? "small c=1" : "small concurrent";
    const throughputPlan = { concurrency, rounds: config.throughputRounds, seconds: config.throughputSeconds, cpuBucket } as const;
    throughputRows.push({ concurrency, callsPerSecond: await measureThroughput(targets, smallSpecs, throughputPlan, ledger) });
  }

  progress(`${plan.backendLabel}: calls after ${config.idleGapSeconds} s idle gaps`);
  const idleGap = await measureAfterIdleGaps(targets, plan.idleGapSpecs, { samples: config.idleGapSamples, gapSeconds: config.idleGapSeconds });
  const idleGapRows = plan.idleGapSpecs.map((spec) => ({ label: spec.label, byTarget: idleGap.get(spec.label) ?? new Map<TargetName, LatencySummary>() }));

  const rss = new Map<RelayName, RssRun>();
  for (const target of plan.measureRss ? targets : []) {
    if ((target.name !== "criscope" && target.name !== "nghttpx") || target.relayPid === undefined) continue;
    progress(`${plan.backendLabel}: ${target.name} memory over ${config.rssCalls} calls at concurrency ${config.highConcurrency}`);
    rss.set(target.name, await measureRss({ ...target, relayPid: target.relayPid }, smallSpecs, config.rssCalls, config.highConcurrency));
  }

  return {
    backendLabel: plan.backendLabel,
    targetNames: targets.map((target) => target.name),
    latencyRows,
    throughputRows,
    relayCpu: ledger,
    bigCallByteExact,
    idleGapRows,
    rss,
  };
}

/** A few big calls per path, doubling as warm-up for them. */
async function checkByteExact(targets: readonly BenchTarget[], bigCall: BigCall): Promise<Map<TargetName, boolean>> {
  const exact = new Map<TargetName, boolean>();
  for (const target of targets) {
    let allSame = true;
    for (let i = 0; i < 3; i++) {
      const answer = await bigCall.spec.invoke(target.client);
      const digest = answer instanceof Buffer ? createHash("sha256").update(answer).digest("hex") : "";
      allSame &&= digest === bigCall.expectedSha256;
    }
    exact.set(target.name, allSame);
  }
  return exact;
}
