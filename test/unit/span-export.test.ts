import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import protobuf from 'protobufjs';
import { createLogger } from '../../src/telemetry/logger.js';
import { FinishedSpan } from '../../src/telemetry/tracing/finished-span.js';
import { ExportRequestFraming } from '../../src/telemetry/tracing/otlp-encoding.js';
import { BoundedSpanExport, type EncodedSpanExporter, type EncodedSpans, type SpanDropReason, type SpanExportStats } from '../../src/telemetry/tracing/span-export.js';

const PROTO_PATH = fileURLToPath(new URL('../../../test/support/otlp-trace.proto', import.meta.url));
const requestType = protobuf.loadSync(PROTO_PATH).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const RESOURCE = resourceFromAttributes({ 'service.name': 'criscope' });
const framing = new ExportRequestFraming({ attributes: RESOURCE.attributes, scope: { name: 'criscope' } });

function span(name: string): FinishedSpan {
  return new FinishedSpan({
    name,
    kind: SpanKind.SERVER,
    context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED },
    parent: undefined,
    startTime: [1765065600, 0],
    endTime: [1765065600, 1000],
    duration: [0, 1000],
    status: { code: SpanStatusCode.UNSET },
    attributes: {},
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    resource: RESOURCE,
    scope: { name: 'criscope' },
  });
}

/** A collector's exporter that answers when told to, and keeps the span names of each export. */
class HeldExporter implements EncodedSpanExporter {
  readonly batches: string[][] = [];
  private readonly answers: ((result: ExportResult) => void)[] = [];
  shutDown = false;

  export(spans: EncodedSpans, done: (result: ExportResult) => void): void {
    const request = requestType.toObject(requestType.decode(framing.request(spans.bytes))) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] };
    const names = request.resourceSpans[0].scopeSpans[0].spans.map((each) => each.name);
    assert.equal(names.length, spans.count);
    this.batches.push(names);
    this.answers.push(done);
  }

  answer(code: ExportResultCode): void {
    const done = this.answers.shift();
    assert.ok(done !== undefined, 'an export is waiting');
    done({ code, error: code === ExportResultCode.SUCCESS ? undefined : new Error('refused') });
  }

  shutdown(): Promise<void> {
    this.shutDown = true;
    return Promise.resolve();
  }
}

/** The span names in a batch, read through a framing of its own (so no request of another test's shares its buffer). */
function namesIn(spans: EncodedSpans): string[] {
  const request = requestType.toObject(requestType.decode(new ExportRequestFraming({ attributes: {}, scope: { name: 'criscope' } }).request(spans.bytes))) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] };
  return request.resourceSpans[0].scopeSpans[0].spans.map((each) => each.name);
}

/** Export outcomes as the metrics would count them. */
function counting(): { counts: { exported: number } & Record<SpanDropReason, number>; stats: SpanExportStats } {
  const counts = { exported: 0, queue_full: 0, export_failed: 0 };
  const stats: SpanExportStats = {
    exported: (count) => {
      counts.exported += count;
    },
    dropped: (reason, count) => {
      counts[reason] += count;
    },
  };
  return { counts, stats };
}

const LIMITS = { maxQueueSize: 6, maxExportBatchSize: 2, exportDelayMillis: 20, exportTimeoutMillis: 10_000 };

describe('BoundedSpanExport', () => {
  it('sends a full batch at once, one export at a time, and drops and counts spans past the queue bound', async () => {
    const exporter = new HeldExporter();
    const { counts, stats } = counting();
    const spanExport = new BoundedSpanExport(exporter, LIMITS, stats, createLogger('silent'), Promise.resolve());
    await sleep(0);
    for (let index = 0; index < 8; index++) spanExport.offer(span(`s${index}`));
    assert.deepEqual(exporter.batches, [['s0', 's1']], 'the first full batch left; the next waits for its answer');
    assert.equal(counts.queue_full, 2, 'six spans waiting or in export at most');
    exporter.answer(ExportResultCode.SUCCESS);
    assert.deepEqual(exporter.batches.at(-1), ['s2', 's3']);
    exporter.answer(ExportResultCode.FAILED);
    assert.deepEqual(exporter.batches.at(-1), ['s4', 's5']);
    exporter.answer(ExportResultCode.SUCCESS);
    assert.equal(counts.exported, 4);
    assert.equal(counts.export_failed, 2);
  });

  it('sends a batch that is not full after the export delay', async () => {
    const exporter = new HeldExporter();
    const spanExport = new BoundedSpanExport(exporter, LIMITS, counting().stats, createLogger('silent'), Promise.resolve());
    spanExport.offer(span('lonely'));
    assert.deepEqual(exporter.batches, []);
    await sleep(LIMITS.exportDelayMillis * 3);
    assert.deepEqual(exporter.batches, [['lonely']]);
  });

  it('waits for the resource before the first export', async () => {
    const exporter = new HeldExporter();
    let resourceKnown: () => void = () => undefined;
    const spanExport = new BoundedSpanExport(exporter, LIMITS, counting().stats, createLogger('silent'), new Promise<void>((resolve) => (resourceKnown = resolve)));
    spanExport.offer(span('a'));
    spanExport.offer(span('b'));
    await sleep(LIMITS.exportDelayMillis * 2);
    assert.deepEqual(exporter.batches, []);
    resourceKnown();
    await sleep(0);
    assert.deepEqual(exporter.batches, [['a', 'b']]);
  });

  it("keeps a batch's bytes as they were until its export settles, and writes later batches into its buffer after", async () => {
    const exported: { spans: EncodedSpans; names: string[]; asExported: Buffer }[] = [];
    const answers: ((result: ExportResult) => void)[] = [];
    const exporter: EncodedSpanExporter = {
      export: (spans, done) => {
        exported.push({ spans, names: namesIn(spans), asExported: Buffer.from(spans.bytes) });
        answers.push(done);
      },
      shutdown: () => Promise.resolve(),
    };
    const answer = (index: number): void => {
      assert.ok(exported[index].spans.bytes.equals(exported[index].asExported), `batch ${index} unchanged until its export settles`);
      answers[index]({ code: ExportResultCode.SUCCESS });
    };
    const spanExport = new BoundedSpanExport(exporter, LIMITS, counting().stats, createLogger('silent'), Promise.resolve());
    await sleep(0);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) spanExport.offer(span(name));
    answer(0);
    for (const name of ['g', 'h']) spanExport.offer(span(name));
    answer(1);
    for (const name of ['i', 'j']) spanExport.offer(span(name));
    for (let index = 2; index < 5; index++) answer(index);
    assert.deepEqual(
      exported.map((batch) => batch.names),
      [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g', 'h'], ['i', 'j']],
    );
    const first = exported[0].spans.bytes.buffer;
    assert.equal(exported[4].spans.bytes.buffer, first, "the batch begun after the first export settled was written into the first one's buffer");
    assert.ok(!exported.slice(1, 4).some((batch) => batch.spans.bytes.buffer === first), 'none begun while it was in export');
  });

  it('never writes again into the buffer of a batch whose exporter did not answer', async () => {
    const exported: EncodedSpans[] = [];
    const answers: ((result: ExportResult) => void)[] = [];
    const exporter: EncodedSpanExporter = {
      export: (spans, done) => {
        exported.push(spans);
        answers.push(done);
      },
      shutdown: () => Promise.resolve(),
    };
    const { counts, stats } = counting();
    // Given up on one second past the exporter's own timeout.
    const spanExport = new BoundedSpanExport(exporter, { ...LIMITS, exportTimeoutMillis: 10 }, stats, createLogger('silent'), Promise.resolve());
    await sleep(0);
    spanExport.offer(span('a'));
    spanExport.offer(span('b'));
    const unanswered = exported[0];
    await sleep(1_100);
    assert.equal(counts.export_failed, 2, 'given up on');
    for (let index = 0; index < 8; index++) {
      spanExport.offer(span(`later${index}`));
      spanExport.offer(span(`later${index}+`));
      answers.at(-1)?.({ code: ExportResultCode.SUCCESS });
    }
    assert.ok(exported.length > 4);
    assert.ok(!exported.slice(1).some((later) => later.bytes.buffer === unanswered.bytes.buffer));
    assert.deepEqual(namesIn(unanswered), ['a', 'b'], 'still what the exporter was given');
  });

  it('exports what is queued on shutdown, then shuts the exporter down', async () => {
    const exporter = new HeldExporter();
    const { counts, stats } = counting();
    const spanExport = new BoundedSpanExport(exporter, LIMITS, stats, createLogger('silent'), Promise.resolve());
    await sleep(0);
    for (const name of ['a', 'b', 'c']) spanExport.offer(span(name));
    const shutdown = spanExport.shutdown();
    exporter.answer(ExportResultCode.SUCCESS);
    await sleep(0);
    assert.deepEqual(exporter.batches, [['a', 'b'], ['c']]);
    assert.equal(exporter.shutDown, false, 'not before the last export is answered');
    exporter.answer(ExportResultCode.SUCCESS);
    await shutdown;
    assert.equal(exporter.shutDown, true);
    assert.equal(counts.exported, 3);
  });
});
