import { TraceFlags, type Span, type SpanContext } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from '../logger.js';

export type SpanDropReason = 'queue_full' | 'export_failed';

/** Where export outcomes are counted (criscope's Prometheus metrics). */
export interface SpanExportStats {
  exported(count: number): void;
  dropped(reason: SpanDropReason, count: number): void;
}

export interface SpanExportLimits {
  /** Spans waiting or being exported; beyond this, new spans are dropped. */
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportDelayMillis: number;
  readonly exportTimeoutMillis: number;
}

/** Reports each export's outcome, and logs when exporting starts failing and when it works again (not per batch). */
class CountingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly exporter: SpanExporter,
    private readonly settled: (count: number, ok: boolean) => void,
    private readonly log: Logger,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exporter.export(spans, (result) => {
      const ok = result.code === ExportResultCode.SUCCESS;
      if (ok === this.failing) {
        this.failing = !ok;
        if (ok) this.log.info('span export works again');
        else this.log.warn({ err: result.error?.message ?? 'unknown', spans: spans.length }, 'span export failing; spans are dropped and counted until it works');
      }
      this.settled(spans.length, ok);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }
}

/** The same span, marked sampled, so the batch processor exports a span kept for its outcome. */
function markedSampled(span: ReadableSpan): ReadableSpan {
  const context: SpanContext = { ...span.spanContext(), traceFlags: span.spanContext().traceFlags | TraceFlags.SAMPLED };
  return new Proxy(span, {
    get: (target, key) => (key === 'spanContext' ? () => context : (Reflect.get(target, key, target) as unknown)),
  });
}

/**
 * Hands finished spans to OpenTelemetry's batch processor, with two additions
 * a node agent needs: spans the sampler only recorded are still exported when
 * their call failed (`keepUnsampled`), and the spans waiting or in export are
 * bounded by `maxQueueSize`, with every span dropped (queue full, or its
 * export failed) counted. Nothing here ever waits on the collector.
 */
export class BoundedSpanExport implements SpanProcessor {
  private pending = 0;
  /** The SDK's spans are both the API's Span and a ReadableSpan: one object, seen first as one, then as the other. */
  private readonly kept = new WeakSet<object>();
  private readonly batch: BatchSpanProcessor;

  constructor(
    exporter: SpanExporter,
    private readonly limits: SpanExportLimits,
    private readonly stats: SpanExportStats,
    log: Logger,
  ) {
    this.batch = new BatchSpanProcessor({
      exporter: new CountingExporter(exporter, this.settled, log),
      maxQueueSize: limits.maxQueueSize,
      maxExportBatchSize: limits.maxExportBatchSize,
      scheduledDelayMillis: limits.exportDelayMillis,
      // The exporter gives up at its own timeout; the processor only waits a little longer for its answer.
      exportTimeoutMillis: limits.exportTimeoutMillis + 1000,
    });
  }

  /** Export `span` when it ends even if the sampler did not pick its trace (a failed call). */
  keepUnsampled(span: Span): void {
    this.kept.add(span);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const sampled = (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
    if (!sampled && !this.kept.has(span)) return;
    if (this.pending >= this.limits.maxQueueSize) {
      this.stats.dropped('queue_full', 1);
      return;
    }
    this.pending += 1;
    this.batch.onEnd(sampled ? span : markedSampled(span));
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }

  private readonly settled = (count: number, ok: boolean): void => {
    this.pending -= count;
    if (ok) this.stats.exported(count);
    else this.stats.dropped('export_failed', count);
  };
}
