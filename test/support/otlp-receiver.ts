// An OTLP/gRPC trace receiver that runs inside a test's process (and the bench's OTLP sink). A stub
// stands in because no OpenTelemetry Collector runs here: it serves TraceService/Export on 127.0.0.1 and
// keeps every span it is sent, decoded into plain values a test can assert on. It can also play
// a collector that refuses every export or never answers, to test criscope against a bad one.
// The unit test otlp-receiver.test.ts proves it against the real OTLP gRPC exporter.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The proto stays in the source tree; this file runs from dist/test/support/. */
const OTLP_TRACE_PROTO_PATH = fileURLToPath(new URL('../../../test/support/otlp-trace.proto', import.meta.url));
const TRACE_SERVICE_NAME = 'opentelemetry.proto.collector.trace.v1.TraceService';

export type AttributeScalar = string | number | boolean;
export type AttributeValue = AttributeScalar | AttributeScalar[];
export type Attributes = Record<string, AttributeValue>;

/** Span kinds and status codes as OTLP numbers them. */
export const SPAN_KIND = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface ReceivedSpan {
  /** Lowercase hex, as in a traceparent header. */
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  /** The W3C trace flags in the low 8 bits (1 = sampled). */
  readonly flags: number;
  readonly name: string;
  /** See SPAN_KIND. */
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Attributes;
  /** code: see STATUS_CODE. */
  readonly status: { readonly code: number; readonly message: string };
  readonly events: readonly { readonly name: string; readonly timeUnixNano: bigint; readonly attributes: Attributes }[];
  readonly links: readonly { readonly traceId: string; readonly spanId: string; readonly attributes: Attributes }[];
  readonly resource: Attributes;
  /** The instrumentation scope's name. */
  readonly scope: string;
}

/** accept: keep the spans and answer OK; refuse: answer UNAVAILABLE; hang: never answer. */
export type ReceiverBehaviour = 'accept' | 'refuse' | 'hang';

export interface OtlpReceiverOptions {
  readonly behaviour?: ReceiverBehaviour;
}

/** A time-boxed wait for spans, settled on each export that adds some. */
interface SpanWaiter {
  readonly predicate: (spans: ReceivedSpan[]) => boolean;
  readonly resolve: (spans: ReceivedSpan[]) => void;
}

export class OtlpReceiver {
  /** What the next Export gets; a test may change it, e.g. to let a refusing collector recover. */
  behaviour: ReceiverBehaviour;
  private readonly received: ReceivedSpan[] = [];
  private readonly waiters = new Set<SpanWaiter>();
  private exportCallCount = 0;

  private constructor(
    private readonly server: grpc.Server,
    /** http://127.0.0.1:PORT, the form an OTLP gRPC exporter's url takes (http means no TLS). */
    readonly endpoint: string,
    behaviour: ReceiverBehaviour,
  ) {
    this.behaviour = behaviour;
  }

  static async start(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
    });
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`, options.behaviour ?? 'accept');
    server.addService(loadTraceService(), {
      Export: (call: grpc.ServerUnaryCall<ExportTraceServiceRequestMessage, object>, callback: grpc.sendUnaryData<object>) =>
        receiver.export(call.request, callback),
    });
    return receiver;
  }

  /** Export calls answered or not, whatever the behaviour. */
  get exportCalls(): number {
    return this.exportCallCount;
  }

  /** Every span accepted so far (since the last takeSpans), in arrival order. */
  spans(): ReceivedSpan[] {
    return [...this.received];
  }

  /** Like spans(), and forgets them, so a long run (the bench) keeps its memory flat. */
  takeSpans(): ReceivedSpan[] {
    return this.received.splice(0);
  }

  /** Resolves with spans() once `predicate` holds for them; rejects after `timeoutMs`. */
  waitForSpans(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan[]> {
    if (predicate(this.spans())) return Promise.resolve(this.spans());
    return new Promise((resolve, reject) => {
      const waiter: SpanWaiter = {
        predicate,
        resolve: (spans) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(spans);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const names = this.received.map((span) => span.name).join(', ');
        reject(new Error(`OTLP receiver: spans did not match within ${timeoutMs} ms; got ${this.received.length} (${names || 'none'})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Ends at once, hung calls included: a test receiver has nothing worth draining. */
  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private export(request: ExportTraceServiceRequestMessage, callback: grpc.sendUnaryData<object>): void {
    this.exportCallCount++;
    if (this.behaviour === 'hang') return;
    if (this.behaviour === 'refuse') {
      callback({ code: grpc.status.UNAVAILABLE, details: 'the test OTLP receiver refuses every export' });
      return;
    }
    let spans: ReceivedSpan[];
    try {
      spans = decodeExportRequest(request);
    } catch (error) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.received.push(...spans);
    callback(null, {});
    for (const waiter of this.waiters) {
      if (waiter.predicate(this.spans())) waiter.resolve(this.spans());
    }
  }
}

function loadTraceService(): grpc.ServiceDefinition {
  // keepCase matches the proto's field names below; longs as strings keep fixed64 nanoseconds exact.
  const definitions = protoLoader.loadSync(OTLP_TRACE_PROTO_PATH, { keepCase: true, longs: String, defaults: false, arrays: true, oneofs: true });
  const service = definitions[TRACE_SERVICE_NAME];
  if (service === undefined || 'format' in service) throw new Error(`${OTLP_TRACE_PROTO_PATH} has no service ${TRACE_SERVICE_NAME}`);
  return service;
}

// The request as proto-loader decodes it with the options above: repeated fields always present,
// other fields absent when unset, 64-bit integers as decimal strings, bytes as Buffers.

interface ExportTraceServiceRequestMessage {
  readonly resource_spans: readonly ResourceSpansMessage[];
}
interface ResourceSpansMessage {
  readonly resource?: { readonly attributes: readonly KeyValueMessage[] };
  readonly scope_spans: readonly ScopeSpansMessage[];
}
interface ScopeSpansMessage {
  readonly scope?: { readonly name?: string };
  readonly spans: readonly SpanMessage[];
}
interface SpanMessage {
  readonly trace_id?: Buffer;
  readonly span_id?: Buffer;
  readonly trace_state?: string;
  readonly parent_span_id?: Buffer;
  readonly flags?: number;
  readonly name?: string;
  readonly kind?: number;
  readonly start_time_unix_nano?: string;
  readonly end_time_unix_nano?: string;
  readonly attributes: readonly KeyValueMessage[];
  readonly events: readonly { readonly time_unix_nano?: string; readonly name?: string; readonly attributes: readonly KeyValueMessage[] }[];
  readonly links: readonly { readonly trace_id?: Buffer; readonly span_id?: Buffer; readonly attributes: readonly KeyValueMessage[] }[];
  readonly status?: { readonly message?: string; readonly code?: number };
}
interface KeyValueMessage {
  readonly key: string;
  readonly value?: AnyValueMessage;
}
/** `value` names the oneof member that is set. */
interface AnyValueMessage {
  readonly value?: string;
  readonly string_value?: string;
  readonly bool_value?: boolean;
  readonly int_value?: string;
  readonly double_value?: number;
  readonly array_value?: { readonly values: readonly AnyValueMessage[] };
}

function decodeExportRequest(request: ExportTraceServiceRequestMessage): ReceivedSpan[] {
  return request.resource_spans.flatMap((resourceSpans) => {
    const resource = decodeAttributes(resourceSpans.resource?.attributes ?? []);
    return resourceSpans.scope_spans.flatMap((scopeSpans) =>
      scopeSpans.spans.map((span) => decodeSpan(span, resource, scopeSpans.scope?.name ?? '')),
    );
  });
}

function decodeSpan(span: SpanMessage, resource: Attributes, scope: string): ReceivedSpan {
  return {
    traceId: hex(span.trace_id),
    spanId: hex(span.span_id),
    parentSpanId: hex(span.parent_span_id),
    traceState: span.trace_state ?? '',
    flags: span.flags ?? 0,
    name: span.name ?? '',
    kind: span.kind ?? SPAN_KIND.UNSPECIFIED,
    startTimeUnixNano: BigInt(span.start_time_unix_nano ?? 0),
    endTimeUnixNano: BigInt(span.end_time_unix_nano ?? 0),
    attributes: decodeAttributes(span.attributes),
    status: { code: span.status?.code ?? STATUS_CODE.UNSET, message: span.status?.message ?? '' },
    events: span.events.map((event) => ({
      name: event.name ?? '',
      timeUnixNano: BigInt(event.time_unix_nano ?? 0),
      attributes: decodeAttributes(event.attributes),
    })),
    links: span.links.map((link) => ({ traceId: hex(link.trace_id), spanId: hex(link.span_id), attributes: decodeAttributes(link.attributes) })),
    resource,
    scope,
  };
}

/** Whatever the length, so a malformed id shows up as itself in a failed assertion. */
function hex(bytes: Buffer | undefined): string {
  return bytes === undefined ? '' : bytes.toString('hex');
}

function decodeAttributes(keyValues: readonly KeyValueMessage[]): Attributes {
  const attributes: Attributes = {};
  for (const { key, value } of keyValues) {
    const decoded = value === undefined ? undefined : decodeValue(value);
    if (decoded === undefined) throw new Error(`attribute ${key}: the test OTLP receiver reads only scalars and arrays of scalars`);
    attributes[key] = decoded;
  }
  return attributes;
}

/** The OTel API's attribute values: scalars and arrays of them. Maps and bytes give undefined. */
function decodeValue(value: AnyValueMessage): AttributeValue | undefined {
  switch (value.value) {
    case 'string_value':
      return value.string_value;
    case 'bool_value':
      return value.bool_value;
    // Safe while counts and sizes stay under 2^53, which any test's values do.
    case 'int_value':
      return Number(value.int_value);
    case 'double_value':
      return value.double_value;
    case 'array_value': {
      const items = (value.array_value?.values ?? []).map(decodeValue);
      return items.every((item): item is AttributeScalar => item !== undefined && !Array.isArray(item)) ? items : undefined;
    }
    default:
      return undefined;
  }
}
