import { trace, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { envDetector, hostDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { ParentBasedSampler, StackContextManager, TraceIdRatioBasedSampler, createAlwaysRecordSampler } from '@opentelemetry/sdk-trace';
import type { Logger } from '../logger.js';
import { ATTR_K8S_NODE_NAME, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv.js';
import { ChosenSpanIds } from './chosen-span-ids.js';
import { BoundedSpanExport, type SpanExportStats } from './span-export.js';
import type { TracingSettings } from './tracing-settings.js';

export interface RunningTracing {
  readonly tracer: Tracer;
  /** The tracer's span ids, which a call's span id can be chosen from before the span is made. */
  readonly spanIds: ChosenSpanIds;
  /** Export this span even if its trace was not sampled (its call failed). */
  readonly keepUnsampled: (span: Span) => void;
  /** Exports what is queued, for at most `timeoutMs`: a dead collector never holds up criscope's exit. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for criscope's spans only: no instrumentations,
 * no metrics or logs pipelines (metrics are Prometheus), and a synchronous
 * context manager, because criscope passes parents explicitly and an
 * AsyncLocalStorage one would tax every socket callback on the relay's path.
 */
export function startTracing(settings: TracingSettings, build: { version: string; node: string }, stats: SpanExportStats, log: Logger): RunningTracing {
  const spanExport = new BoundedSpanExport(new OTLPTraceExporter(settings.exporter), settings.limits, stats, log);
  // Unsampled calls are still recorded, so a failure among them can be kept (see BoundedSpanExport).
  const sampler = createAlwaysRecordSampler(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.samplingRatio) }));
  const spanIds = new ChosenSpanIds();
  const sdk = new NodeSDK({
    idGenerator: spanIds,
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'criscope', [ATTR_SERVICE_VERSION]: build.version, [ATTR_K8S_NODE_NAME]: build.node }),
    resourceDetectors: [hostDetector, envDetector],
    contextManager: new StackContextManager(),
    textMapPropagator: null,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
    sampler,
    spanProcessors: [spanExport],
  });
  sdk.start();
  log.info({ endpoint: settings.endpointForLog, samplingRatio: settings.samplingRatio }, 'tracing on');
  return {
    tracer: trace.getTracer('criscope', build.version),
    spanIds,
    keepUnsampled: (span) => spanExport.keepUnsampled(span),
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([sdk.shutdown().catch(() => undefined), gaveUp]);
      clearTimeout(timer);
    },
  };
}
