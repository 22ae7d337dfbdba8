// Tracing's cost: criscope+telemetry against criscope, measured in the same run. criscope always
// keeps its metrics, so both paths pay for them and the difference is tracing's alone.

import type { CpuBucket } from "./relay-cpu-ledger.js";
import type { SuiteResult } from "./suite.js";

export interface TracingLatencyCost {
  readonly label: string;
  readonly isSmallCall: boolean;
  /** criscope+telemetry's percentile minus criscope's, in µs. */
  readonly addedP50: number;
  readonly addedP99: number;
}

export interface TracingCpuCost {
  readonly bucket: CpuBucket;
  /** criscope+telemetry's CPU µs per call minus criscope's; undefined where either was not measured. */
  readonly addedPerCall: number | undefined;
}

export interface TracingCost {
  readonly latency: readonly TracingLatencyCost[];
  readonly cpu: readonly TracingCpuCost[];
}

/** Undefined unless both criscope paths ran. */
export function tracingCost(result: SuiteResult): TracingCost | undefined {
  if (!result.targetNames.includes("criscope") || !result.targetNames.includes("criscope+telemetry")) return undefined;
  const latency = result.latencyRows.map((row) => {
    const off = row.byTarget.get("criscope");
    const on = row.byTarget.get("criscope+telemetry");
    return {
      label: row.label,
      isSmallCall: row.isSmallCall,
      addedP50: (on?.p50 ?? NaN) - (off?.p50 ?? NaN),
      addedP99: (on?.p99 ?? NaN) - (off?.p99 ?? NaN),
    };
  });
  const buckets: CpuBucket[] = ["small c=1", "small concurrent", ...(result.latencyRows.some((row) => !row.isSmallCall) ? ["ListContainers" as const] : [])];
  const cpu = buckets.map((bucket) => {
    const off = result.relayCpu.microsecondsPerCall("criscope", bucket);
    const on = result.relayCpu.microsecondsPerCall("criscope+telemetry", bucket);
    return { bucket, addedPerCall: off === undefined || on === undefined ? undefined : on - off };
  });
  return { latency, cpu };
}
