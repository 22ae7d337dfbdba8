import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import protobuf from 'protobufjs';
import { FinishedSpan } from '../../src/telemetry/tracing/finished-span.js';
import { ExportRequestFraming, writeSpan } from '../../src/telemetry/tracing/otlp-encoding.js';
import { ProtobufWriter } from '../../src/telemetry/tracing/protobuf-writer.js';

const PROTO_PATH = fileURLToPath(new URL('../../../test/support/otlp-trace.proto', import.meta.url));
const requestType = protobuf.loadSync(PROTO_PATH).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/** A request as plain values, every field present: what a collector reads of it. */
function decoded(bytes: Uint8Array): unknown {
  return requestType.toObject(requestType.decode(bytes), { longs: String, bytes: String, defaults: true, arrays: true, oneofs: true });
}

const RESOURCE = resourceFromAttributes({ 'service.name': 'criscope', 'service.version': '1.2.3', 'k8s.node.name': 'node-a', 'host.arch': 'amd64' });
const SCOPE = { name: 'criscope', version: '1.2.3' };

interface SpanCase {
  readonly name?: string;
  readonly kind?: SpanKind;
  readonly context?: Partial<SpanContext>;
  readonly parent?: SpanContext;
  readonly attributes?: Attributes;
  readonly status?: SpanStatus;
  readonly events?: TimedEvent[];
  readonly droppedAttributesCount?: number;
  readonly droppedEventsCount?: number;
  readonly startTime?: [number, number];
  readonly endTime?: [number, number];
}

function span(parts: SpanCase = {}): ReadableSpan {
  const startTime = parts.startTime ?? [1765065600, 123456789];
  const endTime = parts.endTime ?? [1765065600, 987654321];
  return new FinishedSpan({
    name: parts.name ?? 'runtime.v1.RuntimeService/Version',
    kind: parts.kind ?? SpanKind.SERVER,
    context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, ...parts.context },
    parent: parts.parent,
    startTime,
    endTime,
    duration: [endTime[0] - startTime[0], endTime[1] - startTime[1]],
    status: parts.status ?? { code: SpanStatusCode.UNSET },
    attributes: parts.attributes ?? {},
    droppedAttributesCount: parts.droppedAttributesCount ?? 0,
    events: parts.events ?? [],
    droppedEventsCount: parts.droppedEventsCount ?? 0,
    resource: RESOURCE,
    scope: SCOPE,
  });
}

/** The request criscope sends for `spans`, and the one OpenTelemetry's own serializer makes of them. */
function bothWays(spans: ReadableSpan[]): { ours: Uint8Array; sdk: Uint8Array } {
  const writer = new ProtobufWriter(16);
  for (const each of spans) writeSpan(writer, each);
  const ours = new ExportRequestFraming({ attributes: RESOURCE.attributes, scope: SCOPE }).request(writer.written());
  const sdk = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(sdk !== undefined);
  return { ours, sdk };
}

const CASES: Record<string, ReadableSpan[]> = {
  'a plain server span under a remote parent': [span({ parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true } })],
  'a root span of a pod start, internal, not remote, with a trace state': [
    span({ name: 'PodStart', kind: SpanKind.INTERNAL, context: { traceState: new TraceState('vendor=a,other=b') }, attributes: { 'k8s.pod.uid': 'uid-1', 'criscope.pod_start.containers': 2 } }),
  ],
  'every kind of attribute value': [
    span({
      attributes: {
        'rpc.system': 'grpc',
        'rpc.grpc.status_code': 14,
        negative: -3,
        large: 2 ** 40,
        ratio: 0.25,
        'criscope.answered_by_criscope': true,
        'no.such': false,
        'container.image.tags': ['1.2', 'latest'],
        empty: [],
        numbers: [1, 2.5],
        unicode: 'caf\u00e9 \u2603 \u{1f600}',
        long: 'x'.repeat(300),
        ['a.very.long.key.'.padEnd(200, 'k')]: 'v',
      },
    }),
  ],
  'an error status with its message, policy events and dropped counts': [
    span({
      status: { code: SpanStatusCode.ERROR, message: 'rpc error: code = Unavailable desc = '.padEnd(180, '.') },
      events: [
        { name: 'policy.violation', time: [1765065600, 200000000], attributes: { 'criscope.policy.rule': 'images.allowed', 'criscope.policy.reason': 'not allowed' }, droppedAttributesCount: 1 },
        { name: 'bare', time: [1765065600, 300000000] },
      ],
      droppedAttributesCount: 3,
      droppedEventsCount: 2,
    }),
  ],
  'an unsampled span kept for its failure, and times at the edges of a second': [
    span({ context: { traceFlags: TraceFlags.NONE }, status: { code: SpanStatusCode.ERROR }, startTime: [4294967295, 999999999], endTime: [4294967296, 0] }),
  ],
  'many spans in one request, over 128 and 16384 octets': Array.from({ length: 60 }, (_, index) => span({ name: `call-${index}`, attributes: { index, text: 'y'.repeat(index * 5) } })),
};

describe('OTLP encoding', () => {
  for (const [what, spans] of Object.entries(CASES)) {
    it(`writes ${what} as OpenTelemetry's serializer does`, () => {
      const { ours, sdk } = bothWays(spans);
      assert.deepEqual(decoded(ours), decoded(sdk));
    });
  }

  it('writes an integer too large for int64 as a double, not as a corrupt varint', () => {
    const writer = new ProtobufWriter(16);
    writeSpan(writer, span({ attributes: { huge: 1e300, past64: 2 ** 64 } }));
    const request = decoded(new ExportRequestFraming({ attributes: {}, scope: SCOPE }).request(writer.written())) as {
      resourceSpans: { scopeSpans: { spans: { attributes: { key: string; value: { doubleValue: number } }[] }[] }[] }[];
    };
    const values = request.resourceSpans[0].scopeSpans[0].spans[0].attributes.map((attribute) => [attribute.key, attribute.value.doubleValue]);
    assert.deepEqual(values, [['huge', 1e300], ['past64', 2 ** 64]]);
  });

  it('writes requests into one buffer once the last one settled, and into a new one while it has not', () => {
    const framing = new ExportRequestFraming({ attributes: { 'service.name': 'criscope' }, scope: SCOPE });
    const spansNamed = (name: string): Buffer => {
      const writer = new ProtobufWriter(16);
      writeSpan(writer, span({ name }));
      return Buffer.from(writer.written());
    };
    const names = (request: Buffer): string[] =>
      (decoded(request) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] }).resourceSpans[0].scopeSpans[0].spans.map((each) => each.name);
    const first = framing.request(spansNamed('first'));
    const second = framing.request(spansNamed('second'));
    assert.notEqual(second.buffer, first.buffer, 'the first is still out');
    assert.deepEqual(names(first), ['first'], 'and unchanged');
    framing.requestSettled(second);
    framing.requestSettled(first);
    const third = framing.request(spansNamed('third'));
    assert.equal(third.buffer, first.buffer, 'the first settled: its buffer is written again');
    assert.deepEqual(names(third), ['third']);
  });

  it('writes times as exact nanoseconds since the epoch', () => {
    const times: [number, number][] = [[0, 0], [1, 1], [1765065600, 123456789], [4294967295, 999999999], [9007199254, 740991999]];
    for (const [seconds, nanos] of times) {
      const writer = new ProtobufWriter(1);
      writer.nanoseconds(seconds, nanos);
      assert.equal(writer.written().readBigUInt64LE(0), BigInt(seconds) * 1_000_000_000n + BigInt(nanos), `${seconds}.${nanos}`);
    }
  });

  it('writes a nested message of any length with the shortest length prefix', () => {
    for (const length of [0, 127, 128, 16383, 16384, 70000]) {
      const writer = new ProtobufWriter(4);
      writer.octet(0x01);
      const start = writer.beginNested(0x0a);
      writer.raw(Buffer.alloc(length, 0x61));
      writer.endNested(start);
      writer.octet(0x02);
      const bytes = writer.written();
      const reader = protobuf.Reader.create(bytes);
      assert.equal(reader.uint32(), 0x01);
      assert.equal(reader.uint32(), 0x0a);
      assert.equal(reader.bytes().length, length);
      assert.equal(reader.uint32(), 0x02, 'what follows the nested message is where it belongs');
      assert.equal(reader.pos, bytes.length);
    }
  });
});
