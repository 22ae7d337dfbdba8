import type { Registry } from 'prom-client';
import { registerMetric, type MetricFamily, type MetricSample, type RegisteredMetric } from './registered-metric.js';

type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** One series of a counter: counting is one addition (see HistogramSeries for why not prom-client's). */
export class CounterSeries<L extends string = string> {
  value = 0;

  constructor(readonly labels: LabelValues<L>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

export interface PlainCounterOptions {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
}

/** A counter whose series the caller looks up once and keeps; label values must be bounded by the caller. */
export class PlainCounter<L extends string> implements RegisteredMetric {
  readonly type = 'counter';
  readonly name: string;
  private readonly help: string;
  private readonly series: CounterSeries<L>[] = [];

  constructor(options: PlainCounterOptions) {
    this.name = options.name;
    this.help = options.help;
    registerMetric(options.registry, this);
  }

  /** A new series for `labels`, shown from its first increment on (as prom-client's are). Ask once per label set and keep it. */
  newSeries(labels: LabelValues<L>): CounterSeries<L> {
    const series = new CounterSeries(labels);
    this.series.push(series);
    return series;
  }

  get(): Promise<MetricFamily> {
    const values: MetricSample[] = [];
    for (const series of this.series) if (series.value !== 0) values.push({ value: series.value, labels: { ...series.labels } });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: 'sum', values });
  }

  reset(): void {
    for (const series of this.series) series.value = 0;
  }
}
