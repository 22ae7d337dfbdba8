import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
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
        else this.log.warn({ err: result.error ?? new Error('the exporter gave no reason'), spans: spans.length }, 'span export failing; spans are dropped and counted until it works');
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

/**
 * Hands finished spans to OpenTelemetry's batch processor, with the bound a
 * node agent needs: the spans waiting or in export are at most
 * `maxQueueSize`, and every span dropped (queue full, or its export failed)
 * is counted. Nothing here ever waits on the collector.
 */
export class BoundedSpanExport {
  private pending = 0;
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

  /** Queues `span` for export; it must be marked sampled (SpanMaker marks a failed call's span so, sampled or not). */
  offer(span: ReadableSpan): void {
    if (this.pending >= this.limits.maxQueueSize) {
      this.stats.dropped('queue_full', 1);
      return;
    }
    this.pending += 1;
    this.batch.onEnd(span);
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
