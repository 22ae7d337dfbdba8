import { Counter, type Registry } from 'prom-client';
import type { SpanDropReason, SpanExportStats } from '../tracing/span-export.js';

const DROP_REASONS: readonly SpanDropReason[] = ['queue_full', 'export_failed'];

/** Span export outcomes as Prometheus counters, there from the first scrape whether tracing is on or not. */
export function spanExportMetrics(registry: Registry): SpanExportStats {
  const exported = new Counter({ name: 'criscope_spans_exported_total', help: 'Spans the collector accepted.', registers: [registry] });
  const dropped = new Counter({
    name: 'criscope_spans_dropped_total',
    help: 'Spans dropped instead of exported: queue_full (the export queue was at its bound) or export_failed (the collector refused, failed or timed out).',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of DROP_REASONS) dropped.inc({ reason }, 0);
  return { exported: (count) => exported.inc(count), dropped: (reason, count) => dropped.inc({ reason }, count) };
}
