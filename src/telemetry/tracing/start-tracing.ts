import { DiagConsoleLogger, diag } from '@opentelemetry/api';
import { diagLogLevelFromString } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from '@opentelemetry/otlp-grpc-exporter-base';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import { detectResources, envDetector, hostDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { Logger } from '../logger.js';
import { ATTR_K8S_NODE_NAME, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv.js';
import { ExportRequestFraming } from './otlp-encoding.js';
import { PooledRandomIds } from './trace-context.js';
import { BoundedSpanExport, type EncodedSpanExporter, type EncodedSpans, type SpanExportStats } from './span-export.js';
import { SpanMaker } from './span-maker.js';
import type { TracingSettings } from './tracing-settings.js';

export interface RunningTracing {
  /** Makes criscope's spans and hands them to the exporter. */
  readonly spans: SpanMaker;
  /** Exports what is queued, for at most `timeoutMs`: a dead collector never holds up criscope's exit. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** The name and path OpenTelemetry's OTLP/gRPC trace exporter sends to, and the component type its own metrics use. */
const TRACE_SERVICE = 'TraceExportService';
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const COMPONENT_TYPE = 'otlp_grpc_span_exporter';

/**
 * OpenTelemetry's OTLP/gRPC trace exporter (its transport, configuration
 * and OTEL_EXPORTER_OTLP_* variables, retries and response handling), fed
 * spans criscope has already encoded: in place of its serializer, which
 * builds an object tree for every span, the request is the spans' bytes
 * framed with the resource and scope (ExportRequestFraming).
 */
function otlpExporter(settings: TracingSettings, framing: () => ExportRequestFraming): EncodedSpanExporter {
  /** The export under way, and the request it was serialized to (serializeRequest runs inside export(), or not at all). */
  let underWay: { request?: Buffer } = {};
  const serializer: ISerializer<EncodedSpans, IExportTraceServiceResponse> = {
    serializeRequest: (spans) => (underWay.request = framing().request(spans.bytes)),
    deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
  };
  const countSpans = { name: 'span' as const, countItems: (spans: EncodedSpans) => spans.count };
  const exporter = new OTLPExporterBase(createOtlpGrpcExportDelegate(convertLegacyOtlpGrpcOptions(settings.exporter, 'TRACES'), serializer, COMPONENT_TYPE, countSpans, undefined, TRACE_SERVICE, EXPORT_PATH));
  return {
    export(spans, done) {
      const thisExport: { request?: Buffer } = {};
      underWay = thisExport;
      exporter.export(spans, (result) => {
        // Settled, retries included: the request's buffer is free for the next one.
        if (thisExport.request !== undefined) framing().requestSettled(thisExport.request);
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
  };
}

/**
 * Starts span export: OpenTelemetry's sampler, resource detection and
 * OTLP/gRPC exporter, configured as its Node SDK would be for these
 * settings, with criscope's own batching (BoundedSpanExport). No tracer,
 * context manager or instrumentation is set up: criscope makes its spans
 * itself (SpanMaker), each once its call has ended, and passes their
 * parents explicitly.
 */
export function startTracing(settings: TracingSettings, build: { version: string; node: string }, stats: SpanExportStats, log: Logger): RunningTracing {
  // The SDK's own diagnostics, on request, as its Node SDK offers them.
  if (settings.diagLogLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(settings.diagLogLevel) });
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'criscope', [ATTR_SERVICE_VERSION]: build.version, [ATTR_K8S_NODE_NAME]: build.node }).merge(
    detectResources({ detectors: [hostDetector, envDetector] }),
  );
  const scope = { name: 'criscope', version: build.version };
  let framing: ExportRequestFraming | undefined;
  // Some resource attributes (host.id) are read asynchronously: exports wait for them, as the SDK's batch processor does.
  const resourceKnown = Promise.resolve(resource.waitForAsyncAttributes?.());
  const frameWithResource = (): ExportRequestFraming => (framing ??= new ExportRequestFraming({ attributes: resource.attributes, schemaUrl: resource.schemaUrl, scope }));
  const spanExport = new BoundedSpanExport(otlpExporter(settings, frameWithResource), settings.limits, stats, log, resourceKnown);
  const spans = new SpanMaker({
    // Spans with a parent follow it; unsampled ones are still recorded, so a failure among them can be kept (see SpanMaker).
    rootSampler: new TraceIdRatioBasedSampler(settings.samplingRatio),
    ids: new PooledRandomIds(),
    resource,
    scope,
    limits: settings.spanLimits,
    export: (span) => spanExport.offer(span),
  });
  log.info({ endpoint: settings.endpointForLog, samplingRatio: settings.samplingRatio }, 'tracing on');
  return {
    spans,
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([spanExport.shutdown().catch(() => undefined), gaveUp]);
      clearTimeout(timer);
    },
  };
}
