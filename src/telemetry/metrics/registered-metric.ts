import type { Histogram, Registry } from 'prom-client';

/** One sample as prom-client's registry renders it: `metricName{labels} value`. */
export interface MetricSample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
  /** The sample's own name where it is not the metric's (a histogram's _bucket, _sum and _count). */
  readonly metricName?: string;
}

/** A metric family as prom-client's registry reads it, both for /metrics and getMetricsAsJSON(). */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: readonly MetricSample[];
}

/**
 * A metric of criscope's own that prom-client's registry shows beside its own
 * metrics: the registry reads only name, type, get() and reset() of a metric.
 */
export interface RegisteredMetric {
  readonly name: string;
  readonly type: MetricFamily['type'];
  get(): Promise<MetricFamily>;
  reset(): void;
}

/**
 * Adds `metric` to `registry`. prom-client types registerMetric() with its own
 * metric classes only, though its registry needs no more than RegisteredMetric;
 * this is the one place that tells TypeScript so.
 */
export function registerMetric(registry: Registry, metric: RegisteredMetric): void {
  registry.registerMetric(metric as unknown as Histogram);
}
