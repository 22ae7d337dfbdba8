import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ProtobufWriter, WireType, tag, varintLength } from './protobuf-writer.js';

/*
 * OTLP's trace messages (opentelemetry/proto/trace/v1/trace.proto), written
 * as OpenTelemetry's own transformer writes them (otlp-transformer's
 * sdkSpanToOtlpSpan and toAnyValue): same fields and values, fields at their
 * defaults left out as proto3 leaves them. A test decodes both side by side.
 */

const LENGTH = WireType.LengthDelimited;
const SPAN_TRACE_ID = tag(1, LENGTH);
const SPAN_SPAN_ID = tag(2, LENGTH);
const SPAN_TRACE_STATE = tag(3, LENGTH);
const SPAN_PARENT_SPAN_ID = tag(4, LENGTH);
const SPAN_NAME = tag(5, LENGTH);
const SPAN_KIND = tag(6, WireType.Varint);
const SPAN_START = tag(7, WireType.Fixed64);
const SPAN_END = tag(8, WireType.Fixed64);
const SPAN_ATTRIBUTES = tag(9, LENGTH);
const SPAN_DROPPED_ATTRIBUTES = tag(10, WireType.Varint);
const SPAN_EVENTS = tag(11, LENGTH);
const SPAN_DROPPED_EVENTS = tag(12, WireType.Varint);
const SPAN_STATUS = tag(15, LENGTH);
/** Span.flags is field 16: its tag takes two octets. */
const SPAN_FLAGS = Buffer.from([0x85, 0x01]);
const EVENT_TIME = tag(1, WireType.Fixed64);
const EVENT_NAME = tag(2, LENGTH);
const EVENT_ATTRIBUTES = tag(3, LENGTH);
const EVENT_DROPPED_ATTRIBUTES = tag(4, WireType.Varint);
const STATUS_MESSAGE = tag(2, LENGTH);
const STATUS_CODE = tag(3, WireType.Varint);
const KEY_VALUE_KEY = tag(1, LENGTH);
const KEY_VALUE_VALUE = tag(2, LENGTH);
const ANY_STRING = tag(1, LENGTH);
const ANY_BOOL = tag(2, WireType.Varint);
const ANY_INT = tag(3, WireType.Varint);
const ANY_DOUBLE = tag(4, WireType.Fixed64);
const ANY_ARRAY = tag(5, LENGTH);
const ANY_BYTES = tag(7, LENGTH);
const ARRAY_VALUES = tag(1, LENGTH);
const RESOURCE_ATTRIBUTES = tag(1, LENGTH);
const SCOPE_NAME = tag(1, LENGTH);
const SCOPE_VERSION = tag(2, LENGTH);
const RESOURCE_SPANS_RESOURCE = tag(1, LENGTH);
const RESOURCE_SPANS_SCOPE_SPANS = tag(2, LENGTH);
const RESOURCE_SPANS_SCHEMA_URL = tag(3, LENGTH);
const SCOPE_SPANS_SCOPE = tag(1, LENGTH);
/** ScopeSpans.spans: each span written to a batch is this field. */
const SCOPE_SPANS_SPANS = tag(2, LENGTH);
const REQUEST_RESOURCE_SPANS = tag(1, LENGTH);

/** Span flags bits for "the parent's remoteness is known" and "the parent is remote" (OTLP's SpanFlags). */
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

/** An attribute's key as written, tag and length included: criscope's keys are few and fixed, so each is encoded once. */
const encodedKeys = new Map<string, Buffer>();
const MOST_KEYS_KEPT = 256;

function encodedKey(key: string): Buffer {
  let encoded = encodedKeys.get(key);
  if (encoded === undefined) {
    const writer = new ProtobufWriter(key.length * 3 + 8);
    writer.string(KEY_VALUE_KEY, key);
    encoded = Buffer.from(writer.written());
    if (encodedKeys.size < MOST_KEYS_KEPT) encodedKeys.set(key, encoded);
  }
  return encoded;
}

function writeTime(writer: ProtobufWriter, fieldTag: number, time: HrTime): void {
  writer.octet(fieldTag);
  writer.nanoseconds(time[0], time[1]);
}

/** An AnyValue's fields (toAnyValue's choice of field for each JavaScript type). */
function writeAnyValue(writer: ProtobufWriter, value: unknown): void {
  switch (typeof value) {
    case 'string':
      writer.string(ANY_STRING, value);
      return;
    case 'number':
      // Past 2^53 an integer is no longer exact, and past 2^63 it would not fit int64: a double says it best.
      if (Number.isSafeInteger(value)) {
        writer.octet(ANY_INT);
        writer.int64(value);
      } else {
        writer.octet(ANY_DOUBLE);
        writer.double(value);
      }
      return;
    case 'boolean':
      writer.octet(ANY_BOOL);
      writer.octet(value ? 1 : 0);
      return;
    default:
      break;
  }
  if (value instanceof Uint8Array) {
    writer.octet(ANY_BYTES);
    writer.varint(value.length);
    writer.raw(Buffer.from(value.buffer, value.byteOffset, value.length));
  } else if (Array.isArray(value)) {
    const array = writer.beginNested(ANY_ARRAY);
    for (const item of value as unknown[]) {
      const element = writer.beginNested(ARRAY_VALUES);
      writeAnyValue(writer, item);
      writer.endNested(element);
    }
    writer.endNested(array);
  }
}

function writeAttributes(writer: ProtobufWriter, fieldTag: number, attributes: Attributes): void {
  for (const key in attributes) {
    const keyValue = writer.beginNested(fieldTag);
    writer.raw(encodedKey(key));
    const value = writer.beginNested(KEY_VALUE_VALUE);
    writeAnyValue(writer, attributes[key]);
    writer.endNested(value);
    writer.endNested(keyValue);
  }
}

function writeCount(writer: ProtobufWriter, fieldTag: number, count: number): void {
  if (count === 0) return;
  writer.octet(fieldTag);
  writer.varint(count);
}

/** Appends `span` as one ScopeSpans.spans field. */
export function writeSpan(writer: ProtobufWriter, span: ReadableSpan): void {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  const message = writer.beginNested(SCOPE_SPANS_SPANS);
  writer.hexBytes(SPAN_TRACE_ID, context.traceId);
  writer.hexBytes(SPAN_SPAN_ID, context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') writer.string(SPAN_TRACE_STATE, traceState);
  if (parent?.spanId !== undefined && parent.spanId !== '') writer.hexBytes(SPAN_PARENT_SPAN_ID, parent.spanId);
  writer.string(SPAN_NAME, span.name);
  // OTLP numbers kinds from UNSPECIFIED = 0; the API from INTERNAL = 0.
  writer.octet(SPAN_KIND);
  writer.varint(span.kind + 1);
  writeTime(writer, SPAN_START, span.startTime);
  writeTime(writer, SPAN_END, span.endTime);
  writeAttributes(writer, SPAN_ATTRIBUTES, span.attributes);
  writeCount(writer, SPAN_DROPPED_ATTRIBUTES, span.droppedAttributesCount);
  for (const event of span.events) {
    const written = writer.beginNested(SPAN_EVENTS);
    writeTime(writer, EVENT_TIME, event.time);
    writer.string(EVENT_NAME, event.name);
    if (event.attributes !== undefined) writeAttributes(writer, EVENT_ATTRIBUTES, event.attributes);
    writeCount(writer, EVENT_DROPPED_ATTRIBUTES, event.droppedAttributesCount ?? 0);
    writer.endNested(written);
  }
  writeCount(writer, SPAN_DROPPED_EVENTS, span.droppedEventsCount);
  // Always there, as the SDK writes it, even when unset.
  const { code, message: statusMessage } = span.status;
  const status = writer.beginNested(SPAN_STATUS);
  if (statusMessage !== undefined && statusMessage !== '') writer.string(STATUS_MESSAGE, statusMessage);
  writeCount(writer, STATUS_CODE, code);
  writer.endNested(status);
  writer.raw(SPAN_FLAGS);
  writer.fixed32((context.traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE | (parent?.isRemote === true ? FLAGS_IS_REMOTE : 0));
  writer.endNested(message);
}

/** What every export request of criscope's says before its spans: one resource, one scope. */
export interface RequestSource {
  readonly attributes: Attributes;
  readonly schemaUrl?: string;
  readonly scope: InstrumentationScope;
}

/**
 * Frames batches of spans (written by writeSpan) as ExportTraceServiceRequest
 * messages, the resource and scope encoded once. Requests are written into
 * one buffer, which keeps the size of the largest so far, whenever the last
 * request's export has settled: a buffer made anew for each export would
 * outlive a few young-generation collections and be freed only by a full one.
 */
export class ExportRequestFraming {
  private readonly resource: Buffer;
  private readonly scope: Buffer;
  private readonly schemaUrl: Buffer;
  /** The buffer requests are written into while no export still holds it. */
  private readonly shared = new ProtobufWriter(16 * 1024);
  private sharedOut = false;

  constructor(source: RequestSource) {
    const writer = new ProtobufWriter(1024);
    const resource = writer.beginNested(RESOURCE_SPANS_RESOURCE);
    writeAttributes(writer, RESOURCE_ATTRIBUTES, source.attributes);
    writer.endNested(resource);
    this.resource = Buffer.from(writer.written());
    writer.truncate(0);
    const scope = writer.beginNested(SCOPE_SPANS_SCOPE);
    writer.string(SCOPE_NAME, source.scope.name);
    if (source.scope.version !== undefined && source.scope.version !== '') writer.string(SCOPE_VERSION, source.scope.version);
    writer.endNested(scope);
    this.scope = Buffer.from(writer.written());
    writer.truncate(0);
    if (source.schemaUrl !== undefined && source.schemaUrl !== '') writer.string(RESOURCE_SPANS_SCHEMA_URL, source.schemaUrl);
    this.schemaUrl = Buffer.from(writer.written());
  }

  /** The request carrying `spans` (ScopeSpans.spans fields, back to back): unchanged until requestSettled(). */
  request(spans: Buffer): Buffer {
    const scopeSpansLength = this.scope.length + spans.length;
    const resourceSpansLength = this.resource.length + 1 + varintLength(scopeSpansLength) + scopeSpansLength + this.schemaUrl.length;
    const requestLength = 1 + varintLength(resourceSpansLength) + resourceSpansLength;
    // An export that never settled may still hold the shared buffer: then this request gets one of its own.
    const writer = this.sharedOut ? new ProtobufWriter(requestLength) : this.shared;
    writer.truncate(0);
    if (writer === this.shared) this.sharedOut = true;
    writer.octet(REQUEST_RESOURCE_SPANS);
    writer.varint(resourceSpansLength);
    writer.raw(this.resource);
    writer.octet(RESOURCE_SPANS_SCOPE_SPANS);
    writer.varint(scopeSpansLength);
    writer.raw(this.scope);
    writer.raw(spans);
    writer.raw(this.schemaUrl);
    return writer.written();
  }

  /** The export of `request` settled (retries included): its buffer may be written again. */
  requestSettled(request: Buffer): void {
    const shared = this.shared.written();
    if (request.buffer === shared.buffer && request.byteOffset === shared.byteOffset) this.sharedOut = false;
  }
}
