import { ROOT_CONTEXT, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext, type SpanKind, type SpanStatus } from '@opentelemetry/api';
import { cleanAttributes, cleanSimpleAttributes, hrTime, hrTimeDuration, millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { SamplingDecision, type IdGenerator, type ReadableSpan, type Sampler, type SpanLimits, type TimedEvent } from '@opentelemetry/sdk-trace';
import { FinishedSpan } from './finished-span.js';

export type ResolvedSpanLimits = Required<SpanLimits>;

/** What making criscope's spans needs from OpenTelemetry: how to sample, name, limit and export them. */
export interface SpanOutput {
  /** Decides whether a new trace (a span without a parent) is sampled. */
  readonly rootSampler: Sampler;
  readonly ids: IdGenerator;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly limits: ResolvedSpanLimits;
  /** Hands a finished, exportable span on; never waits. */
  readonly export: (span: ReadableSpan) => void;
}

/** More attributes than any of criscope's spans carries: with a count limit at least this high, none is ever dropped. */
const MOST_ATTRIBUTES = 32;
const NO_ATTRIBUTES: Attributes = Object.freeze({});
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

/** The performance clock's origin on the wall clock: fixed for the process, so read once (its getter allocates). */
const TIME_ORIGIN = performance.timeOrigin;

/** A performance.now() tick as a span's clock reads it, as the SDK's span reads a time given as a number. */
function spanTime(tick: number, clockOffset: number): HrTime {
  return tick <= performance.now() ? hrTime(tick + clockOffset) : millisToHrTime(tick);
}

/** A span's identity and start, fixed when it starts, as the SDK's tracer fixes them. */
export class StartedSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly context: SpanContext;
  readonly parent: SpanContext | undefined;
  readonly startTime: HrTime;
  /** Milliseconds from the performance clock (from its origin) to the wall clock, when the span started. */
  private readonly clockOffset: number;
  /** The attributes it started with and those the sampler added, under the ones it ends with. */
  readonly startAttributes: Attributes | undefined;

  constructor(start: { name: string; kind: SpanKind; context: SpanContext; parent: SpanContext | undefined; startTime: HrTime; clockOffset: number; startAttributes: Attributes | undefined }) {
    this.name = start.name;
    this.kind = start.kind;
    this.context = start.context;
    this.parent = start.parent;
    this.startTime = start.startTime;
    this.clockOffset = start.clockOffset;
    this.startAttributes = start.startAttributes;
  }

  get sampled(): boolean {
    return (this.context.traceFlags & TraceFlags.SAMPLED) !== 0;
  }

  /** A performance.now() tick on the span's clock. */
  time(tick: number): HrTime {
    return spanTime(tick, this.clockOffset);
  }
}

/** An event of a span, at a performance.now() tick. */
export interface SpanEvent {
  readonly name: string;
  readonly attributes: Attributes;
  readonly tick: number;
}

/** How a span ends. */
export interface SpanEnding {
  readonly attributes: Attributes;
  /** An error status, with its message; left unset otherwise. */
  readonly status?: SpanStatus;
  readonly events?: readonly SpanEvent[];
  /** Export it even if its trace was not sampled (a failed call): it goes out marked sampled. */
  readonly keep: boolean;
}

/**
 * Makes criscope's spans the way OpenTelemetry's SDK would (same ids,
 * sampling, limits, clock and exporter), but each in one go: a call's span is
 * started and ended once the call is over, so none of the SDK's machinery for
 * spans still running is needed on each call.
 *
 * Sampling is what the SDK's AlwaysRecord(ParentBased(root)) sampler decides,
 * worked out here for spans with a parent: every span is recorded (so a
 * failed call's can be exported although its trace was not sampled), a span
 * with a parent is sampled when its parent is and takes its trace state, and
 * only a new trace asks the root sampler.
 */
export class SpanMaker {
  private readonly attributesNeedLimits: boolean;

  constructor(private readonly output: SpanOutput) {
    const { attributeCountLimit, attributeValueLengthLimit } = output.limits;
    this.attributesNeedLimits = attributeCountLimit < MOST_ATTRIBUTES || attributeValueLengthLimit !== Infinity;
  }

  /** A fresh span id, for a span to be started later under it. */
  newSpanId(): string {
    return this.output.ids.generateSpanId();
  }

  /**
   * Starts a span at `startTick` (performance.now()) under `parent`, with
   * `attributes`: trace id, sampling and trace state as the SDK's tracer
   * decides them.
   */
  start(name: string, kind: SpanKind, startTick: number, parent: SpanContext | undefined, spanId = this.output.ids.generateSpanId(), attributes = NO_ATTRIBUTES): StartedSpan {
    const clockOffset = Date.now() - (performance.now() + TIME_ORIGIN);
    const startTime = spanTime(startTick, clockOffset);
    const startAttributes = attributes === NO_ATTRIBUTES ? undefined : attributes;
    if (parent !== undefined) {
      const context: SpanContext = { traceId: parent.traceId, spanId, traceFlags: parent.traceFlags & TraceFlags.SAMPLED, traceState: parent.traceState };
      return new StartedSpan({ name, kind, context, parent, startTime, clockOffset, startAttributes });
    }
    const traceId = this.output.ids.generateTraceId();
    const sampling = this.output.rootSampler.shouldSample(ROOT_CONTEXT, traceId, name, kind, attributes, NO_LINKS);
    const traceFlags = sampling.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
    const context: SpanContext = { traceId, spanId, traceFlags, traceState: sampling.traceState };
    const withSampler = sampling.attributes === undefined ? startAttributes : { ...attributes, ...sampling.attributes };
    return new StartedSpan({ name, kind, context, parent: undefined, startTime, clockOffset, startAttributes: withSampler });
  }

  /** Whether ending `span` would export it: sampled, or to be kept. Nothing else need be worked out otherwise. */
  exports(span: StartedSpan, keep: boolean): boolean {
    return keep || span.sampled;
  }

  /** Ends `span` at `endTick` (performance.now(); now when undefined) and exports it if sampled or kept. */
  end(span: StartedSpan, endTick: number | undefined, ending: SpanEnding): void {
    if (!this.exports(span, ending.keep)) return;
    const sampled = span.sampled;
    let endTime = endTick === undefined ? millisToHrTime(Date.now()) : span.time(endTick);
    let duration = hrTimeDuration(span.startTime, endTime);
    if (duration[0] < 0) {
      endTime = [span.startTime[0], span.startTime[1]];
      duration = [0, 0];
    }
    const merged = span.startAttributes === undefined ? ending.attributes : { ...span.startAttributes, ...ending.attributes };
    let attributes = merged;
    let droppedAttributesCount = 0;
    if (this.attributesNeedLimits) {
      const cleaned = cleanAttributes(merged, this.output.limits);
      attributes = cleaned.attributes ?? {};
      droppedAttributesCount = cleaned.droppedAttributesCount ?? 0;
    }
    const { events, droppedEventsCount } = this.timedEvents(span, ending.events);
    this.output.export(
      new FinishedSpan({
        name: span.name,
        kind: span.kind,
        context: sampled ? span.context : { ...span.context, traceFlags: span.context.traceFlags | TraceFlags.SAMPLED },
        parent: span.parent,
        startTime: span.startTime,
        endTime,
        duration,
        status: ending.status ?? UNSET,
        attributes,
        droppedAttributesCount,
        events,
        droppedEventsCount,
        resource: this.output.resource,
        scope: this.output.scope,
      }),
    );
  }

  /** The events under the SDK's limits: past eventCountLimit the oldest give way, and each one's attributes are limited. */
  private timedEvents(span: StartedSpan, pending: readonly SpanEvent[] | undefined): { events: TimedEvent[]; droppedEventsCount: number } {
    if (pending === undefined || pending.length === 0) return { events: NO_EVENTS, droppedEventsCount: 0 };
    const { eventCountLimit, attributePerEventCountLimit, attributeValueLengthLimit } = this.output.limits;
    if (eventCountLimit === 0) return { events: NO_EVENTS, droppedEventsCount: pending.length };
    const events: TimedEvent[] = [];
    let droppedEventsCount = 0;
    for (const event of pending) {
      if (events.length >= eventCountLimit) {
        events.shift();
        droppedEventsCount++;
      }
      const cleaned = cleanSimpleAttributes(event.attributes, { attributeCountLimit: attributePerEventCountLimit, attributeValueLengthLimit });
      events.push({ name: event.name, time: span.time(event.tick), attributes: cleaned.attributes, droppedAttributesCount: cleaned.droppedAttributesCount });
    }
    return { events, droppedEventsCount };
  }
}
