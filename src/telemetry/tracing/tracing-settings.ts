import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import type { OTLPGRPCExporterConfigNode } from '@opentelemetry/otlp-grpc-exporter-base';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { SpanExportLimits } from './span-export.js';
import type { ResolvedSpanLimits } from './span-maker.js';

type TracingConfig = NonNullable<Config['tracing']>;
type ExporterConfig = OTLPGRPCExporterConfigNode;

/** Everything span export needs, from the config file first and the OTEL_* variables second. */
export interface TracingSettings {
  readonly exporter: ExporterConfig;
  readonly limits: SpanExportLimits;
  /** Share of new traces sampled; calls with a trace context follow its sampled flag. */
  readonly samplingRatio: number;
  /** Where spans go, for the startup log: never the headers. */
  readonly endpointForLog: string;
  /** Attribute, event and link limits per span, from the OTEL_*_LIMIT variables as OpenTelemetry's Node SDK reads them. */
  readonly spanLimits: ResolvedSpanLimits;
  /** OTEL_LOG_LEVEL: the SDK's own diagnostics on the console, when set. */
  readonly diagLogLevel: string | undefined;
}

const DEFAULT_TIMEOUT_MILLIS = 10_000;
const DEFAULT_MAX_QUEUE_SIZE = 2048;
const DEFAULT_MAX_EXPORT_BATCH_SIZE = 512;
/** Shorter than the spec's 5 s: a node's spans are few, and an operator looking at a pod start wants them soon. */
const DEFAULT_EXPORT_DELAY_MILLIS = 1000;

/** True only when the variable says "true" (in any case), as the OpenTelemetry spec reads booleans. */
function envTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

/** A variable's value; empty counts as unset, as the OpenTelemetry spec says. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function envEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  return envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
}

/**
 * Whether criscope traces at all. OTEL_SDK_DISABLED=true always turns it off
 * (the SDK itself then does nothing); otherwise the config's `tracing.enabled`
 * when given; otherwise on when an OTLP endpoint is set in the environment,
 * unless OTEL_TRACES_EXPORTER=none.
 */
function tracingEnabled(config: TracingConfig | undefined, env: NodeJS.ProcessEnv): boolean {
  if (envTrue(env['OTEL_SDK_DISABLED'])) return false;
  if (config?.enabled !== undefined) return config.enabled;
  if (envValue(env, 'OTEL_TRACES_EXPORTER') === 'none') return false;
  return config?.endpoint !== undefined || envEndpoint(env) !== undefined;
}

/** The sampling ratio from OTEL_TRACES_SAMPLER(_ARG), for the samplers that have one. */
function envSamplingRatio(env: NodeJS.ProcessEnv): number {
  const sampler = envValue(env, 'OTEL_TRACES_SAMPLER');
  if (sampler === undefined) return 1;
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0;
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') return 1;
  if (sampler !== 'traceidratio' && sampler !== 'parentbased_traceidratio') {
    throw new ConfigError('environment', [{ field: 'OTEL_TRACES_SAMPLER', reason: `"${sampler}" is not supported; criscope samples parent-based by ratio` }]);
  }
  const raw = envValue(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = raw === undefined ? 1 : Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new ConfigError('environment', [{ field: 'OTEL_TRACES_SAMPLER_ARG', reason: `must be a ratio from 0 to 1, got "${raw ?? ''}"` }]);
  }
  return ratio;
}

/** A whole number from the environment, or undefined when unset; anything else is a ConfigError naming the variable. */
function envInteger(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = envValue(env, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError('environment', [{ field: name, reason: `must be a whole number from ${min} to ${max}, got "${raw}"` }]);
  }
  return value;
}

function readPem(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`tracing.tls.${field}`, [{ field: `tracing.tls.${field}`, reason: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
}

/** A number from the environment as OpenTelemetry reads one: unset, empty or not a number is undefined. */
function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = envValue(env, name);
  const value = raw === undefined ? Number.NaN : Number(raw);
  return Number.isNaN(value) ? undefined : value;
}

/** OpenTelemetry's span limits: its Node SDK's variables, and its tracer provider's defaults where they are unset. */
function spanLimits(env: NodeJS.ProcessEnv): ResolvedSpanLimits {
  return {
    attributeCountLimit: envNumber(env, 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ?? envNumber(env, 'OTEL_ATTRIBUTE_COUNT_LIMIT') ?? 128,
    attributeValueLengthLimit: envNumber(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? envNumber(env, 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? Infinity,
    eventCountLimit: envNumber(env, 'OTEL_SPAN_EVENT_COUNT_LIMIT') ?? 128,
    linkCountLimit: envNumber(env, 'OTEL_SPAN_LINK_COUNT_LIMIT') ?? 128,
    attributePerEventCountLimit: envNumber(env, 'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT') ?? envNumber(env, 'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT') ?? 128,
    attributePerLinkCountLimit: envNumber(env, 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT') ?? envNumber(env, 'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT') ?? 128,
  };
}

/** Credentials when the config says how to connect; left to the exporter (and its OTEL_* variables) otherwise. */
function channelCredentials(config: TracingConfig): ChannelCredentials | undefined {
  if (config.insecure === true) return grpcCredentials.createInsecure();
  const tls = config.tls;
  if (tls === undefined) return config.insecure === false ? grpcCredentials.createSsl() : undefined;
  return grpcCredentials.createSsl(
    tls.caFile === undefined ? null : readPem(tls.caFile, 'caFile'),
    tls.keyFile === undefined ? null : readPem(tls.keyFile, 'keyFile'),
    tls.certFile === undefined ? null : readPem(tls.certFile, 'certFile'),
  );
}

/** Undefined when tracing is off; throws a ConfigError for an unusable setting. */
export function tracingSettings(config: Config, env: NodeJS.ProcessEnv): TracingSettings | undefined {
  const tracing = config.tracing;
  if (!tracingEnabled(tracing, env)) return undefined;
  const timeoutMillis =
    (tracing?.timeoutSeconds === undefined ? undefined : tracing.timeoutSeconds * 1000) ??
    envInteger(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 1, 300_000) ??
    envInteger(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 1, 300_000) ??
    DEFAULT_TIMEOUT_MILLIS;
  const maxQueueSize = tracing?.maxQueueSize ?? envInteger(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 1, 1_000_000) ?? DEFAULT_MAX_QUEUE_SIZE;
  // A batch larger than the queue could never fill: the batch processor would clamp it too.
  const maxExportBatchSize = Math.min(maxQueueSize, tracing?.maxExportBatchSize ?? envInteger(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 1, 100_000) ?? DEFAULT_MAX_EXPORT_BATCH_SIZE);
  const exportDelayMillis = tracing?.exportDelayMillis ?? envInteger(env, 'OTEL_BSP_SCHEDULE_DELAY', 1, 60_000) ?? DEFAULT_EXPORT_DELAY_MILLIS;
  let metadata: Metadata | undefined;
  if (tracing?.headers !== undefined) {
    metadata = new Metadata();
    for (const [key, value] of Object.entries(tracing.headers)) metadata.set(key, value);
  }
  const exporter: ExporterConfig = {
    url: tracing?.endpoint,
    credentials: tracing === undefined ? undefined : channelCredentials(tracing),
    metadata,
    timeoutMillis,
  };
  return {
    exporter,
    limits: { maxQueueSize, maxExportBatchSize, exportDelayMillis, exportTimeoutMillis: timeoutMillis },
    samplingRatio: tracing?.samplingRatio ?? envSamplingRatio(env),
    endpointForLog: tracing?.endpoint ?? envEndpoint(env) ?? 'http://localhost:4317 (the OTLP default)',
    spanLimits: spanLimits(env),
    diagLogLevel: envValue(env, 'OTEL_LOG_LEVEL'),
  };
}
