import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

/** criscope's spans have no links; one shared empty list, never added to. */
const NO_LINKS: Link[] = [];

export interface FinishedSpanParts {
  readonly name: string;
  readonly kind: SpanKind;
  readonly context: SpanContext;
  readonly parent: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly droppedAttributesCount: number;
  readonly events: TimedEvent[];
  readonly droppedEventsCount: number;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

/**
 * A span made whole once what it stands for has ended: everything the
 * exporter reads, in one object. The SDK's live spans carry what a span
 * still running needs (its processor, limits checked per attribute, clocks);
 * criscope's spans are all made after the fact.
 */
export class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly links = NO_LINKS;
  readonly events: TimedEvent[];
  readonly ended = true;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount = 0;
  private readonly context: SpanContext;

  constructor(parts: FinishedSpanParts) {
    this.name = parts.name;
    this.kind = parts.kind;
    this.context = parts.context;
    this.parentSpanContext = parts.parent;
    this.startTime = parts.startTime;
    this.endTime = parts.endTime;
    this.duration = parts.duration;
    this.status = parts.status;
    this.attributes = parts.attributes;
    this.droppedAttributesCount = parts.droppedAttributesCount;
    this.events = parts.events;
    this.droppedEventsCount = parts.droppedEventsCount;
    this.resource = parts.resource;
    this.instrumentationScope = parts.scope;
  }

  spanContext(): SpanContext {
    return this.context;
  }
}
