import type { Registry } from 'prom-client';
import { registerMetric, type MetricFamily, type MetricSample, type RegisteredMetric } from './registered-metric.js';

type LabelValues<L extends string> = Readonly<Record<L, string>>;

/**
 * One series of a histogram, kept in plain numbers: an observation is a
 * bucket search and three additions. prom-client's own histograms validate
 * and hash the labels on every observation, even through a labels() child,
 * which is most of what metrics cost a relayed call.
 */
export class HistogramSeries<L extends string = string> {
  /** Observations per bucket, not yet summed up; the last is the one above every bound. */
  private readonly counts: Float64Array;
  private total = 0;
  private observations = 0;

  constructor(
    private readonly bounds: Float64Array,
    readonly labels: LabelValues<L>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    // prom-client refuses such a value too: it would make the sum useless.
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]) bucket++;
    this.counts[bucket] += 1;
    this.total += value;
    this.observations += 1;
  }

  /** The series as prom-client renders a histogram's: cumulative buckets (le first), then _sum and _count; nothing before its first observation. */
  samples(name: string, into: MetricSample[]): void {
    if (this.observations === 0) return;
    const bucketName = `${name}_bucket`;
    let cumulative = 0;
    for (let bucket = 0; bucket < this.bounds.length; bucket++) {
      cumulative += this.counts[bucket];
      into.push({ value: cumulative, labels: { le: this.bounds[bucket], ...this.labels }, metricName: bucketName });
    }
    into.push({ value: this.observations, labels: { le: '+Inf', ...this.labels }, metricName: bucketName });
    into.push({ value: this.total, labels: { ...this.labels }, metricName: `${name}_sum` });
    into.push({ value: this.observations, labels: { ...this.labels }, metricName: `${name}_count` });
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.observations = 0;
  }
}

export interface PlainHistogramOptions {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
  readonly registry: Registry;
}

/**
 * A histogram whose series the caller looks up once and keeps: each series
 * is its own object, so observing needs no label lookup at all. The label
 * values must be bounded by the caller, as for any Prometheus label.
 */
export class PlainHistogram<L extends string> implements RegisteredMetric {
  readonly type = 'histogram';
  readonly name: string;
  private readonly help: string;
  private readonly bounds: Float64Array;
  private readonly series: HistogramSeries<L>[] = [];

  constructor(options: PlainHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.bounds = Float64Array.from(options.buckets);
    for (let index = 1; index < this.bounds.length; index++) {
      if (!(this.bounds[index] > this.bounds[index - 1])) throw new Error(`${options.name}: bucket bounds must ascend`);
    }
    registerMetric(options.registry, this);
  }

  /** A new series for `labels`, shown from its first observation on (as prom-client's are). Ask once per label set and keep it. */
  newSeries(labels: LabelValues<L>): HistogramSeries<L> {
    const series = new HistogramSeries(this.bounds, labels);
    this.series.push(series);
    return series;
  }

  get(): Promise<MetricFamily> {
    const values: MetricSample[] = [];
    for (const series of this.series) series.samples(this.name, values);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: 'sum', values });
  }

  reset(): void {
    for (const series of this.series) series.reset();
  }
}
