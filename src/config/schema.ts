import { z } from 'zod';
import { canonicalSocketPath, defaultImageListen, unixSocketPath } from './endpoint.js';

const MIB = 1024 * 1024;
/** Where flight dumps go on a node. */
const DEFAULT_DUMP_DIR = '/var/lib/criscope/flight';
/** What one connection may keep for decoding at once, unless maxMessageBytes is larger. */
const DEFAULT_MAX_KEPT_BYTES_PER_CONNECTION = 32 * MIB;

const unixEndpoint = z
  .string()
  .refine((value) => unixSocketPath(value) !== undefined, {
    message: 'must be a unix socket endpoint such as unix:///run/containerd/containerd.sock',
  });

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
  message: 'must be host:port, e.g. 127.0.0.1:9810',
});

/** File mode of the listen socket: a number (0o660 read from YAML as 432) or an octal string "0660". */
const socketMode = z.union([
  z.number().int().min(0).max(0o777),
  z
    .string()
    .regex(/^0?[0-7]{3}$/, { message: 'must be an octal file mode such as "0660"' })
    .transform((value) => Number.parseInt(value, 8)),
]);

/** An OTLP gRPC endpoint: http:// (plain) or https:// (TLS), host and port. */
const otlpEndpoint = z.string().regex(/^https?:\/\/[^/\s]+(:\d{1,5})?\/?$/, {
  message: 'must be an OTLP gRPC URL such as http://127.0.0.1:4317',
});

/**
 * Span export. Every key left out falls back to its standard OTEL_* variable
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS, _CERTIFICATE, _TIMEOUT,
 * OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_MAX_QUEUE_SIZE, …), then to criscope's default.
 */
const tracingSchema = z
  .object({
    /** Left out: on when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set and OTEL_SDK_DISABLED is not. */
    enabled: z.boolean().optional(),
    endpoint: otlpEndpoint.optional(),
    /** Plain gRPC (no TLS) whatever the scheme; left out, http:// is plain and https:// is TLS. */
    insecure: z.boolean().optional(),
    /** Sent with every export (e.g. a collector's API key); never logged. */
    headers: z.record(z.string(), z.string()).optional(),
    tls: z
      .object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() })
      .strict()
      .optional(),
    timeoutSeconds: z.number().positive().max(300).optional(),
    /** The share of new traces kept; a call whose client sent a trace context follows its sampled flag. */
    samplingRatio: z.number().min(0).max(1).optional(),
    /** Spans waiting for export; beyond this, new spans are dropped and counted. */
    maxQueueSize: z.number().int().min(1).max(1_000_000).optional(),
    maxExportBatchSize: z.number().int().min(1).max(100_000).optional(),
    exportDelayMillis: z.number().int().min(1).max(60_000).optional(),
  })
  .strict()
  .refine((tracing) => (tracing.maxExportBatchSize ?? 0) <= (tracing.maxQueueSize ?? Infinity), {
    message: 'maxExportBatchSize must not exceed maxQueueSize',
    path: ['maxExportBatchSize'],
  });

/** When a pod start counts as done: the pod start trace's end and criscope_pod_start_duration_seconds. */
const podStartSchema = z
  .object({
    /** A pod start ends this long after its last container started, if kubelet creates no further container. */
    settleSeconds: z.number().min(0).max(600).default(5),
    /** A pod start not done by then ends as timed out. */
    maxSeconds: z.number().min(1).max(86_400).default(900),
  })
  .strict();

/** The admin socket, where `criscope tail` and other local readers follow calls. Never TCP: records name pods, images and commands. */
const adminSchema = z
  .object({
    /** An absolute path; left out, admin.sock beside listen. */
    socket: z.string().regex(/^\//, { message: 'must be an absolute path (the admin socket is a unix socket only)' }).optional(),
    maxSubscribers: z.number().int().min(1).max(64).default(8),
    /** How far one reader may lag, in bytes, before calls are dropped for it (and it is told how many). */
    subscriberQueueBytes: z.number().int().min(4096).max(256 * MIB).default(MIB),
  })
  .strict();

/** What the recorder keeps unless told otherwise: a few minutes of a busy node's calls. */
const DEFAULT_FLIGHT_RECORDS = 20_000;

/** The last calls kept in memory, for `criscope tail --since`, `why` and flight dumps. */
const flightRecorderSchema = z
  .object({
    /** 0 keeps none. */
    maxRecords: z.number().int().min(0).max(1_000_000).default(DEFAULT_FLIGHT_RECORDS),
    maxBytes: z.number().int().min(0).max(1024 * MIB).default(16 * MIB),
    /** Where the recorder's calls are dumped (SIGUSR1, and by itself when trouble starts); made mode 0700. */
    dumpDir: z.string().regex(/^\//, { message: 'must be an absolute path' }).default(DEFAULT_DUMP_DIR),
    /** The dumps kept in dumpDir; older ones are removed. */
    maxDumps: z.number().int().min(1).max(1000).default(10),
    /** The least time between two automatic dumps (SIGUSR1 is never held back); at least a second, so that an outage cannot dump at every failed call. */
    autoDumpIntervalSeconds: z.number().min(1).max(86_400).default(60),
    /** A call in flight this long dumps the recorder (once per call). */
    stuckCallSeconds: z.number().min(1).max(86_400).default(120),
  })
  .strict();

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The config file's shape; every key is optional there, and flags override the file. */
export const configSchema = z
  .object({
    listen: unixEndpoint.default('unix:///run/criscope/criscope.sock'),
    runtimeEndpoint: unixEndpoint.optional(),
    imageEndpoint: unixEndpoint.optional(),
    /** Where kubelet's image endpoint connects when imageEndpoint is set; defaults to criscope-image.sock beside listen. */
    imageListen: unixEndpoint.optional(),
    socketMode: socketMode.default(0o660),
    httpListen: hostPort.default('127.0.0.1:9810'),
    maxMessageBytes: z
      .number()
      .int()
      .min(4 * MIB, { message: 'must be at least 4 MiB (kubelet itself sends up to 16 MiB)' })
      .default(16 * MIB),
    /**
     * The most one connection keeps at once of messages kept for decoding (records, policy); past it,
     * messages are relayed but not decoded, and a request policy must judge is answered RESOURCE_EXHAUSTED.
     * Left out: 32 MiB, or maxMessageBytes when that is larger.
     */
    maxKeptBytesPerConnection: z.number().int().positive().optional(),
    shutdownGraceSeconds: z.number().min(0).max(600).default(10),
    /** The node's name on spans and criscope_build_info; left out, $NODE_NAME, then the host name. */
    nodeName: z.string().min(1).optional(),
    tracing: tracingSchema.optional(),
    podStart: podStartSchema.default({ settleSeconds: 5, maxSeconds: 900 }),
    /** A policy file (YAML): calls it judges are checked before they reach the runtime; reloaded on change and on SIGHUP. */
    policyFile: z.string().min(1).optional(),
    admin: adminSchema.default({ maxSubscribers: 8, subscriberQueueBytes: MIB }),
    flightRecorder: flightRecorderSchema.default({ maxRecords: DEFAULT_FLIGHT_RECORDS, maxBytes: 16 * MIB, dumpDir: DEFAULT_DUMP_DIR, maxDumps: 10, autoDumpIntervalSeconds: 60, stuckCallSeconds: 120 }),
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((config, context) => {
    // One message as large as maxMessageBytes must fit, or it could never be decoded nor judged.
    if (config.maxKeptBytesPerConnection !== undefined && config.maxKeptBytesPerConnection < config.maxMessageBytes) {
      context.addIssue({ code: 'custom', path: ['maxKeptBytesPerConnection'], message: `must be at least maxMessageBytes (${config.maxMessageBytes})` });
    }
    // Relaying to one of its own sockets would loop every call back into criscope, however
    // the path is spelled (/var/run for /run, doubled slashes). The image socket counts
    // even when left to its default, criscope-image.sock beside listen.
    const ownSockets = [
      { path: canonicalSocketPath(config.listen), name: 'listen socket' },
      {
        path: canonicalSocketPath(config.imageListen ?? defaultImageListen(config.listen) ?? ''),
        name: config.imageListen === undefined ? 'image socket (criscope-image.sock beside listen, where kubelet\'s image endpoint connects)' : 'image socket (imageListen)',
      },
    ];
    for (const key of ['runtimeEndpoint', 'imageEndpoint'] as const) {
      const endpoint = config[key];
      const own = endpoint === undefined ? undefined : ownSockets.find((socket) => socket.path !== undefined && socket.path === canonicalSocketPath(endpoint));
      if (own !== undefined) {
        context.addIssue({ code: 'custom', path: [key], message: `is criscope's own ${own.name}; set it to the runtime's socket (kubelet's endpoint before criscope)` });
      }
    }
  })
  .transform((config) => ({
    ...config,
    maxKeptBytesPerConnection: config.maxKeptBytesPerConnection ?? Math.max(DEFAULT_MAX_KEPT_BYTES_PER_CONNECTION, config.maxMessageBytes),
  }));

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;
