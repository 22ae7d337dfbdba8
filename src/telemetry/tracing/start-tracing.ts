import { DiagConsoleLogger, diag } from '@opentelemetry/api';
import { diagLogLevelFromString } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { detectResources, envDetector, hostDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { RandomIdGenerator, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { Logger } from '../logger.js';
import { ATTR_K8S_NODE_NAME, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv.js';
import { BoundedSpanExport, type SpanExportStats } from './span-export.js';
import { SpanMaker } from './span-maker.js';
import type { TracingSettings } from './tracing-settings.js';

export interface RunningTracing {
  /** Makes criscope's spans and hands them to the exporter. */
  readonly spans: SpanMaker;
  /** Exports what is queued, for at most `timeoutMs`: a dead collector never holds up criscope's exit. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * Starts span export: OpenTelemetry's sampler, resource detection, batch
 * processor and OTLP/gRPC exporter, configured as its Node SDK would be for
 * these settings. No tracer, context manager or instrumentation is set up:
 * criscope makes its spans itself (SpanMaker), each once its call has ended,
 * and passes their parents explicitly.
 */
export function startTracing(settings: TracingSettings, build: { version: string; node: string }, stats: SpanExportStats, log: Logger): RunningTracing {
  // The SDK's own diagnostics, on request, as its Node SDK offers them.
  if (settings.diagLogLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(settings.diagLogLevel) });
  const spanExport = new BoundedSpanExport(new OTLPTraceExporter(settings.exporter), settings.limits, stats, log);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'criscope', [ATTR_SERVICE_VERSION]: build.version, [ATTR_K8S_NODE_NAME]: build.node }).merge(
    detectResources({ detectors: [hostDetector, envDetector] }),
  );
  const spans = new SpanMaker({
    // Spans with a parent follow it; unsampled ones are still recorded, so a failure among them can be kept (see SpanMaker).
    rootSampler: new TraceIdRatioBasedSampler(settings.samplingRatio),
    ids: new RandomIdGenerator(),
    resource,
    scope: { name: 'criscope', version: build.version },
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
