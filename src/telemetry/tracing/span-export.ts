import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Logger } from '../logger.js';
import { writeSpan } from './otlp-encoding.js';
import { ProtobufWriter } from './protobuf-writer.js';

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

/** Spans already written as OTLP (ScopeSpans.spans fields, back to back), and how many. */
export interface EncodedSpans {
  readonly bytes: Buffer;
  readonly count: number;
}

/** Sends a batch of encoded spans to the collector, and says how it went (an OTLP exporter around ExportRequestFraming). */
export interface EncodedSpanExporter {
  export(spans: EncodedSpans, done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** Room a batch's writer starts with (a few dozen spans); it doubles as needed, and keeps its size when reused. */
const INITIAL_BATCH_BYTES = 16 * 1024;
/** Writers of settled exports kept for the next batches, besides the one being written: a new one is rarely needed. */
const SPARE_WRITERS = 2;

/** A batch closed for export, and the writer its bytes are in (reused once the export settled). */
interface ClosedBatch {
  readonly spans: EncodedSpans;
  readonly writer: ProtobufWriter;
}

/**
 * Batches finished spans for export, as OpenTelemetry's batch span
 * processor does (a batch leaves when full or after the export delay, one
 * export at a time), with the bound a node agent needs: the spans waiting or
 * in export are at most `maxQueueSize`, and every span dropped (queue full,
 * or its export failed) is counted. Nothing here ever waits on the
 * collector.
 *
 * Each span is written as OTLP when it is offered, into the batch's one
 * buffer, so no span object outlives its call: held until export, thousands
 * of them would be promoted and then collected by V8's old-generation
 * collector, which costs more than writing them. For the same reason a
 * batch's buffer is reused once its export settled: a batch lives through
 * several young-generation collections, so a new buffer for each would be
 * freed only by a full collection, and V8 counts the memory outside its heap
 * such buffers hold towards starting one.
 */
export class BoundedSpanExport {
  private pending = 0;
  private batch = new ProtobufWriter(INITIAL_BATCH_BYTES);
  private batchCount = 0;
  private readonly full: ClosedBatch[] = [];
  private readonly spareWriters: ProtobufWriter[] = [];
  private exporting = false;
  private resourceKnown = false;
  private timer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private failing = false;
  private encodingFailed = false;
  private stopping: Promise<void> | undefined;

  /** `exportsFrom`: exports start once it settles (the resource's attributes are known, or could not be). */
  constructor(
    private readonly exporter: EncodedSpanExporter,
    private readonly limits: SpanExportLimits,
    private readonly stats: SpanExportStats,
    private readonly log: Logger,
    exportsFrom: Promise<unknown>,
  ) {
    // Settled either way: a resource attribute that could not be read is left out, and spans still go.
    void exportsFrom
      .catch(() => undefined)
      .then(() => {
        this.resourceKnown = true;
        this.exportNext();
      });
  }

  /** Queues `span` for export; it must be marked sampled (SpanMaker marks a failed call's span so, sampled or not). */
  offer(span: ReadableSpan): void {
    if (this.pending >= this.limits.maxQueueSize) {
      this.stats.dropped('queue_full', 1);
      return;
    }
    const before = this.batch.length;
    try {
      writeSpan(this.batch, span);
    } catch (error) {
      this.batch.truncate(before);
      this.stats.dropped('export_failed', 1);
      if (!this.encodingFailed) this.log.error({ err: error, span: span.name }, 'could not encode a span; such spans are dropped and counted');
      this.encodingFailed = true;
      return;
    }
    this.pending += 1;
    this.batchCount += 1;
    if (this.batchCount >= this.limits.maxExportBatchSize) {
      this.closeBatch();
      this.exportNext();
    } else {
      this.timer ??= setTimeout(this.exportDue, this.limits.exportDelayMillis).unref();
    }
  }

  /** Exports what is queued, then shuts the exporter down; asked again, the same shutdown. */
  shutdown(): Promise<void> {
    this.stopping ??= this.drainThenShutDown();
    return this.stopping;
  }

  private async drainThenShutDown(): Promise<void> {
    this.closeBatch();
    if (this.exporting || this.full.length > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      this.exportNext();
      await drained;
    }
    await this.exporter.shutdown();
  }

  private readonly exportDue = (): void => {
    this.timer = undefined;
    this.closeBatch();
    this.exportNext();
  };

  private closeBatch(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.batchCount === 0) return;
    this.full.push({ spans: { bytes: this.batch.written(), count: this.batchCount }, writer: this.batch });
    this.batch = this.spareWriters.pop() ?? new ProtobufWriter(INITIAL_BATCH_BYTES);
    this.batchCount = 0;
  }

  private exportNext(): void {
    if (this.exporting || !this.resourceKnown) return;
    const batch = this.full.shift();
    if (batch === undefined) {
      this.drained?.();
      this.drained = undefined;
      return;
    }
    this.exporting = true;
    let settled = false;
    // The exporter gives up at its own timeout; this only guards against an answer that never comes.
    const guard = setTimeout(() => finish({ code: ExportResultCode.FAILED, error: new Error('the exporter did not answer') }, false), this.limits.exportTimeoutMillis + 1000).unref();
    const finish = (result: ExportResult, exporterDone = true): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      this.settled(batch.spans.count, result);
      // The exporter is done with the bytes, retries included: the writer can take the next batch. One that never answered may still read them.
      if (exporterDone && this.spareWriters.length < SPARE_WRITERS) {
        batch.writer.truncate(0);
        this.spareWriters.push(batch.writer);
      }
      this.exporting = false;
      this.exportNext();
    };
    try {
      this.exporter.export(batch.spans, finish);
    } catch (error) {
      // The exporter serializes before it sends: what that throws is a failed export, never a crash from a timer;
      // whatever it started may still read the batch, so its writer is not reused.
      finish({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) }, false);
    }
  }

  /** Counts an export's outcome, and logs when exporting starts failing and when it works again (not per batch). */
  private settled(count: number, result: ExportResult): void {
    this.pending -= count;
    const ok = result.code === ExportResultCode.SUCCESS;
    if (ok === this.failing) {
      this.failing = !ok;
      if (ok) this.log.info('span export works again');
      else this.log.warn({ err: result.error ?? new Error('the exporter gave no reason'), spans: count }, 'span export failing; spans are dropped and counted until it works');
    }
    if (ok) this.stats.exported(count);
    else this.stats.dropped('export_failed', count);
  }
}
