// One backend's full set of measurements, every path in the same run: warm-up, latency,
// throughput, relay CPU, and (when asked) criscope's memory over many calls.

import { createHash } from "node:crypto";
import { runCalls } from "./call-runner.js";
import type { CallSpec } from "./call-specs.js";
import type { BenchConfig } from "./config.js";
import type { LatencySummary } from "./latency-stats.js";
import { measureLatency } from "./measure-latency.js";
import { measureRssGrowth, type RssGrowth } from "./measure-rss.js";
import { measureThroughput } from "./measure-throughput.js";
import type { TelemetrySpans } from "./otlp-sink.js";
import { progress } from "./progress.js";
import { RelayCpuLedger } from "./relay-cpu-ledger.js";
import type { BenchTarget, TargetName } from "./targets.js";

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
  readonly measureCriscopeRss: boolean;
  readonly config: BenchConfig;
}

export interface LatencyRow {
  readonly label: string;
  readonly isSmallCall: boolean;
  readonly byTarget: ReadonlyMap<TargetName, LatencySummary>;
}

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
  readonly criscopeRss?: RssGrowth;
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

  let criscopeRss: RssGrowth | undefined;
  const criscope = targets.find((target) => target.name === "criscope");
  if (plan.measureCriscopeRss && criscope?.relayPid !== undefined) {
    progress(`${plan.backendLabel}: criscope memory over ${config.rssCalls} calls at concurrency ${config.highConcurrency}`);
    criscopeRss = await measureRssGrowth({ ...criscope, relayPid: criscope.relayPid }, smallSpecs, config.rssCalls, config.highConcurrency);
  }

  return {
    backendLabel: plan.backendLabel,
    targetNames: targets.map((target) => target.name),
    latencyRows,
    throughputRows,
    relayCpu: ledger,
    bigCallByteExact,
    ...(criscopeRss === undefined ? {} : { criscopeRss }),
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
