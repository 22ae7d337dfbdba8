// Percentiles of latency samples, in microseconds.

export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly samples: number;
}

export function summarizeLatencies(samplesMicroseconds: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samplesMicroseconds).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), samples: sorted.length };
}

/** Nearest-rank percentile of values in any order. */
export function percentileOf(values: readonly number[], fraction: number): number {
  return percentile(Float64Array.from(values).sort(), fraction);
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
