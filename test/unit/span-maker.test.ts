import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState, hrTimeToMicroseconds } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider, createAlwaysRecordSampler, type IdGenerator, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace';
import { SpanMaker, type ResolvedSpanLimits, type SpanEvent } from '../../src/telemetry/tracing/span-maker.js';

const DEFAULT_LIMITS: ResolvedSpanLimits = {
  attributeCountLimit: 128,
  attributeValueLengthLimit: Infinity,
  eventCountLimit: 128,
  linkCountLimit: 128,
  attributePerEventCountLimit: 128,
  attributePerLinkCountLimit: 128,
};

/** Ids from a counter, so that the SDK and SpanMaker, each with its own, get the same ones. */
class CountingIds implements IdGenerator {
  private next = 1;
  generateTraceId(): string {
    return (this.next++).toString(16).padStart(32, '0');
  }
  generateSpanId(): string {
    return (this.next++).toString(16).padStart(16, '0');
  }
}

/** The sampler criscope's spans were made with when the SDK's tracer made them. */
function criscopeSampler(ratio: number): Sampler {
  return createAlwaysRecordSampler(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }));
}

const RESOURCE = resourceFromAttributes({ 'service.name': 'criscope' });

interface Ending {
  readonly attributes: Attributes;
  readonly status?: SpanStatus;
  readonly events?: readonly SpanEvent[];
  readonly keep: boolean;
}

interface SpanCase {
  readonly parent?: SpanContext;
  readonly startAttributes?: Attributes;
  readonly ending: Ending;
}

/** The span as OpenTelemetry's SDK makes it (as criscope made its spans before SpanMaker), if sampled. */
function sdkSpan(ratio: number, limits: ResolvedSpanLimits, span: SpanCase, startTick: number, endTick: number): ReadableSpan | undefined {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ sampler: criscopeSampler(ratio), spanLimits: limits, resource: RESOURCE, idGenerator: new CountingIds(), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const context = span.parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, span.parent);
  const sdk = provider.getTracer('criscope', '1.2.3').startSpan('runtime.v1.RuntimeService/Version', { kind: SpanKind.SERVER, startTime: startTick, attributes: span.startAttributes }, context);
  sdk.setAttributes(span.ending.attributes);
  for (const event of span.ending.events ?? []) sdk.addEvent(event.name, event.attributes, event.tick);
  if (span.ending.status !== undefined) sdk.setStatus(span.ending.status);
  sdk.end(endTick);
  return exporter.getFinishedSpans()[0];
}

/** The span as SpanMaker makes it, or undefined if it is not exported. */
function madeSpan(ratio: number, limits: ResolvedSpanLimits, span: SpanCase, startTick: number, endTick: number): ReadableSpan | undefined {
  const exported: ReadableSpan[] = [];
  const maker = new SpanMaker({
    rootSampler: new TraceIdRatioBasedSampler(ratio),
    ids: new CountingIds(),
    resource: RESOURCE,
    scope: { name: 'criscope', version: '1.2.3' },
    limits,
    export: (finished) => exported.push(finished),
  });
  const started = maker.start('runtime.v1.RuntimeService/Version', SpanKind.SERVER, startTick, span.parent, undefined, span.startAttributes);
  maker.end(started, endTick, span.ending);
  return exported[0];
}

/** What the OTLP exporter reads of a span, times aside (each path reads the wall clock itself). */
function exportedFields(span: ReadableSpan): unknown {
  return {
    name: span.name,
    kind: span.kind,
    context: span.spanContext(),
    parent: span.parentSpanContext,
    attributes: span.attributes,
    droppedAttributesCount: span.droppedAttributesCount,
    status: span.status,
    events: span.events.map(({ name, attributes, droppedAttributesCount }) => ({ name, attributes, droppedAttributesCount })),
    droppedEventsCount: span.droppedEventsCount,
    links: span.links,
    droppedLinksCount: span.droppedLinksCount,
    resource: span.resource.attributes,
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version },
    ended: span.ended,
  };
}

function assertSameSpan(ratio: number, limits: ResolvedSpanLimits, span: SpanCase): ReadableSpan {
  const startTick = performance.now() - 20;
  const endTick = startTick + 12.345678;
  const sdk = sdkSpan(ratio, limits, span, startTick, endTick);
  const made = madeSpan(ratio, limits, span, startTick, endTick);
  assert.ok(sdk !== undefined && made !== undefined, 'both export the span');
  assert.deepEqual(exportedFields(made), exportedFields(sdk));
  // Both read the call's ticks on the wall clock, a moment apart: the same span, to well within a millisecond.
  assert.ok(Math.abs(hrTimeToMicroseconds(made.startTime) - hrTimeToMicroseconds(sdk.startTime)) < 1000);
  assert.ok(Math.abs(hrTimeToMicroseconds(made.duration) - 12_345.678) < 1);
  assert.deepEqual(made.duration, sdk.duration);
  return made;
}

const CALL_ATTRIBUTES: Attributes = {
  'rpc.system': 'grpc',
  'rpc.service': 'runtime.v1.RuntimeService',
  'rpc.method': 'Version',
  'rpc.grpc.status_code': 14,
  'container.image.tags': ['1.35'],
  'criscope.answered_by_criscope': true,
};
const ERROR: SpanStatus = { code: SpanStatusCode.ERROR, message: 'runtime restarting' };
const VIOLATION: SpanEvent = { name: 'criscope.policy.violation', attributes: { 'criscope.policy.rule': 'images', 'criscope.policy.reason': 'not allowed' }, tick: 0 };

describe('SpanMaker makes the spans OpenTelemetry’s SDK makes', () => {
  it('a root span, sampled, with its attributes, status and events', () => {
    const made = assertSameSpan(1, DEFAULT_LIMITS, { ending: { attributes: CALL_ATTRIBUTES, status: ERROR, events: [{ ...VIOLATION, tick: performance.now() - 10 }], keep: true } });
    assert.equal(made.parentSpanContext, undefined);
    assert.equal(made.spanContext().traceFlags, TraceFlags.SAMPLED);
  });

  it('a span under a client’s sampled span, with its trace state', () => {
    const parent: SpanContext = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('vendor=1') };
    const made = assertSameSpan(0, DEFAULT_LIMITS, { parent, ending: { attributes: CALL_ATTRIBUTES, keep: false } });
    assert.equal(made.spanContext().traceId, parent.traceId);
    assert.equal(made.spanContext().traceState?.serialize(), 'vendor=1');
  });

  it('a span under a pod start’s root span, with the attributes it started with', () => {
    const root: SpanContext = { traceId: 'ef'.repeat(16), spanId: '12'.repeat(8), traceFlags: TraceFlags.SAMPLED };
    assertSameSpan(1, DEFAULT_LIMITS, { parent: root, startAttributes: { 'k8s.pod.uid': 'uid-1' }, ending: { attributes: { 'criscope.pod_start.result': 'started' }, keep: false } });
  });

  it('the SDK’s limits, when the OTEL_*_LIMIT variables set them', () => {
    const limits: ResolvedSpanLimits = { ...DEFAULT_LIMITS, attributeCountLimit: 3, attributeValueLengthLimit: 4, eventCountLimit: 1, attributePerEventCountLimit: 1 };
    const tick = performance.now() - 10;
    const made = assertSameSpan(1, limits, { ending: { attributes: CALL_ATTRIBUTES, events: [{ ...VIOLATION, tick }, { ...VIOLATION, name: 'second', tick }], keep: false } });
    assert.equal(made.droppedAttributesCount, 3);
    assert.equal(made.attributes['rpc.service'], 'runt');
    assert.deepEqual(
      made.events.map((event) => event.name),
      ['second'],
    );
    assert.equal(made.droppedEventsCount, 1);
  });
});

describe('SpanMaker exports', () => {
  const unsampledParent: SpanContext = { traceId: '34'.repeat(16), spanId: '56'.repeat(8), traceFlags: TraceFlags.NONE, isRemote: true };

  it('a span of a trace not sampled only when kept, and then marked sampled', () => {
    assert.equal(madeSpan(1, DEFAULT_LIMITS, { parent: unsampledParent, ending: { attributes: CALL_ATTRIBUTES, keep: false } }, 0, 1), undefined);
    const kept = madeSpan(1, DEFAULT_LIMITS, { parent: unsampledParent, ending: { attributes: CALL_ATTRIBUTES, status: ERROR, keep: true } }, 0, 1);
    assert.equal(kept?.spanContext().traceFlags, TraceFlags.SAMPLED);
    assert.equal(kept?.spanContext().traceId, unsampledParent.traceId);
    assert.deepEqual(kept?.status, ERROR);
  });

  it('a root span the ratio left out only when kept', () => {
    assert.equal(madeSpan(0, DEFAULT_LIMITS, { ending: { attributes: CALL_ATTRIBUTES, keep: false } }, 0, 1), undefined);
    assert.notEqual(madeSpan(0, DEFAULT_LIMITS, { ending: { attributes: CALL_ATTRIBUTES, keep: true } }, 0, 1), undefined);
  });

  it('a span that would end before it started as lasting no time, as the SDK does', () => {
    const made = madeSpan(1, DEFAULT_LIMITS, { ending: { attributes: {}, keep: false } }, 10, 5);
    assert.deepEqual(made?.duration, [0, 0]);
    assert.deepEqual(made?.endTime, made?.startTime);
  });
});
