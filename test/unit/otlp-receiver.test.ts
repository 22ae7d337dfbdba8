// The test OTLP receiver against the real OTLP gRPC exporter: what the exporter sends, the
// receiver must read back field for field, or span assertions elsewhere would prove nothing.

import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OtlpReceiver, SPAN_KIND, STATUS_CODE, type ReceiverBehaviour } from '../support/otlp-receiver.js';
import { waitFor } from '../support/wait.js';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Sends an empty ExportTraceServiceRequest (zero bytes) with a bare gRPC client; resolves with the error, if any. */
function exportNothing(endpoint: string): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(endpoint.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      EXPORT_PATH,
      (request: Buffer) => request,
      (response: Buffer) => response,
      Buffer.alloc(0),
      (error) => {
        client.close();
        resolve(error ?? undefined);
      },
    );
  });
}

describe('OtlpReceiver', () => {
  let receiver: OtlpReceiver | undefined;
  const startReceiver = async (behaviour: ReceiverBehaviour): Promise<OtlpReceiver> => {
    receiver = await OtlpReceiver.start({ behaviour });
    return receiver;
  };
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  it('decodes what the real OTLP gRPC exporter sends', async () => {
    const otlp = await startReceiver('accept');
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'criscope-receiver-test', 'host.name': 'node-1' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: otlp.endpoint }) })],
    });
    const tracer = provider.getTracer('criscope.test', '0.1.0');
    const sentAt = BigInt(Date.now()) * 1_000_000n;

    const root = tracer.startSpan('root');
    const child = tracer.startSpan(
      'runtime.v1.RuntimeService/Version',
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'test.count': 42, 'test.ratio': 0.25, 'test.flag': true, 'test.list': ['a', 'b'] },
      },
      trace.setSpan(context.active(), root),
    );
    child.addEvent('decoded', { 'test.bytes': 7 });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'runtime said no' });
    child.end();
    root.end();
    await provider.forceFlush();
    await provider.shutdown();

    const spans = await otlp.waitForSpans((received) => received.length === 2);
    const rootSpan = spans.find((span) => span.name === 'root');
    const childSpan = spans.find((span) => span.name === 'runtime.v1.RuntimeService/Version');
    assert.ok(rootSpan !== undefined && childSpan !== undefined, `got ${spans.map((span) => span.name).join(', ')}`);

    assert.equal(rootSpan.traceId, root.spanContext().traceId);
    assert.equal(rootSpan.spanId, root.spanContext().spanId);
    assert.equal(rootSpan.parentSpanId, '');
    assert.equal(rootSpan.kind, SPAN_KIND.INTERNAL);
    assert.equal(rootSpan.status.code, STATUS_CODE.UNSET);
    assert.equal(childSpan.traceId, root.spanContext().traceId);
    assert.equal(childSpan.spanId, child.spanContext().spanId);
    assert.equal(childSpan.parentSpanId, root.spanContext().spanId);
    assert.equal(childSpan.flags & 0xff, 1, 'sampled');

    assert.equal(childSpan.kind, SPAN_KIND.SERVER);
    assert.deepEqual(childSpan.attributes, { 'rpc.system': 'grpc', 'test.count': 42, 'test.ratio': 0.25, 'test.flag': true, 'test.list': ['a', 'b'] });
    assert.deepEqual(childSpan.status, { code: STATUS_CODE.ERROR, message: 'runtime said no' });
    assert.deepEqual(
      childSpan.events.map((event) => ({ name: event.name, attributes: event.attributes })),
      [{ name: 'decoded', attributes: { 'test.bytes': 7 } }],
    );
    assert.equal(childSpan.resource['service.name'], 'criscope-receiver-test');
    assert.equal(childSpan.resource['host.name'], 'node-1');
    assert.equal(childSpan.scope, 'criscope.test');

    // fixed64 nanoseconds read exactly: within a minute of now, and in order.
    assert.ok(childSpan.startTimeUnixNano >= sentAt - 60_000_000_000n && childSpan.startTimeUnixNano <= sentAt + 60_000_000_000n);
    assert.ok(childSpan.endTimeUnixNano >= childSpan.startTimeUnixNano);
    assert.ok(otlp.exportCalls >= 1);

    assert.equal(otlp.takeSpans().length, 2);
    assert.deepEqual(otlp.spans(), [], 'taken spans are forgotten');
  });

  it('answers every export with UNAVAILABLE when refusing, and keeps nothing', async () => {
    const otlp = await startReceiver('refuse');
    const error = await exportNothing(otlp.endpoint);
    assert.equal(error?.code, grpc.status.UNAVAILABLE);
    assert.equal(otlp.exportCalls, 1);
    assert.deepEqual(otlp.spans(), []);
  });

  it('never answers when hanging, and still closes, ending the hung call', async () => {
    const otlp = await startReceiver('hang');
    const pending = exportNothing(otlp.endpoint);
    await waitFor(() => otlp.exportCalls === 1, 'the export reaching the receiver');
    await otlp.close();
    const error = await pending;
    assert.ok(error !== undefined, 'the hung call ends with an error once the receiver closes');
  });

  it('says what it got when the spans a test waits for never come', async () => {
    const otlp = await startReceiver('accept');
    await assert.rejects(otlp.waitForSpans((spans) => spans.length > 0, 50), /got 0 \(none\)/);
  });
});
