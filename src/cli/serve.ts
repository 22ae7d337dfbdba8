import { hostname } from 'node:os';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config/schema.js';
import { defaultAdminSocket, defaultImageListen, unixSocketPath } from '../config/endpoint.js';
import { loadCriProto } from '../cri/proto-root.js';
import { buildMethodTable } from '../cri/method-table.js';
import { AdminServer } from '../http/admin-server.js';
import { OpsServer } from '../http/ops-server.js';
import { FlightRecorder } from '../telemetry/recorder/flight-recorder.js';
import { FlightDumper } from '../telemetry/recorder/flight-dumper.js';
import { CallRates } from '../telemetry/top/call-rates.js';
import { TopView } from '../telemetry/top/top-view.js';
import { takeSystemdListenFds } from '../relay/systemd-sockets.js';
import { RelayServer, type RelayRoute } from '../relay/relay-server.js';
import { OPEN_GATE } from '../relay/request-gate.js';
import { warmUp, type WarmUpTracking } from '../relay/warm-up.js';
import { discoverRuntimeEndpoint } from '../runtime/discover.js';
import { RuntimeClient } from '../runtime/runtime-client.js';
import { imageSizes } from '../runtime/image-sizes.js';
import { CallObservers, type CallObserver } from '../cri/call-record.js';
import type { MethodTable } from '../cri/method-table.js';
import { loadPolicy } from '../config/load-policy.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { RuntimeDirectory } from '../runtime/runtime-directory.js';
import { CallLog } from '../telemetry/call-log.js';
import { PolicyMetrics } from '../telemetry/metrics/policy-metrics.js';
import { PolicyLog } from '../telemetry/policy-log.js';
import { PolicyReloader } from './policy-reloader.js';
import type { Logger } from '../telemetry/logger.js';
import type { CallsInFlight } from '../telemetry/call-in-flight.js';
import { CallMetrics } from '../telemetry/metrics/call-metrics.js';
import { NodeMetrics } from '../telemetry/metrics/node-metrics.js';
import { RuntimeMetrics } from '../telemetry/metrics/runtime-metrics.js';
import { spanExportMetrics } from '../telemetry/metrics/span-export-metrics.js';
import { recorderMetrics } from '../telemetry/metrics/recorder-metrics.js';
import { PodStarts } from '../telemetry/pod-starts.js';
import type { CallSpans } from '../telemetry/tracing/call-spans.js';
import { rpcConventions } from '../telemetry/tracing/semconv.js';
import type { RunningTracing } from '../telemetry/tracing/start-tracing.js';
import { tracingSettings } from '../telemetry/tracing/tracing-settings.js';
import type { TraceContinuation } from '../telemetry/trace-continuation.js';

/** How often the event-loop delay histogram (criscope_nodejs_eventloop_lag_*) is sampled. */
const EVENT_LOOP_SAMPLE_MS = 100;

/** How often criscope tries again to bind httpListen when it could not. */
const HTTP_RETRY_MS = 5000;

export interface RunningCriscope {
  /** Reloads the policy file now (SIGHUP); nothing when no policy is configured. */
  reloadPolicy(): void;
  /** Dumps the flight recorder to flightRecorder.dumpDir now (SIGUSR1). */
  dumpFlightRecorder(): void;
  /** Graceful stop: the relay's shutdown, then the rest. */
  stop(): Promise<void>;
}

/** The socket path of a validated endpoint (the schema has already checked its form). */
function socketOf(endpoint: string): string {
  return unixSocketPath(endpoint) as string;
}

/**
 * The sockets to listen on: kubelet's runtime endpoint, and, when the runtime
 * serves images on a socket of its own, a second one for kubelet's image
 * endpoint. Connections are relayed whole, so each socket maps to one endpoint.
 */
function relayRoutes(config: Config, runtimeEndpoint: string): RelayRoute[] {
  const listenPath = socketOf(config.listen);
  const routes: RelayRoute[] = [{ socketPath: listenPath, endpoint: runtimeEndpoint, upstreamPath: socketOf(runtimeEndpoint) }];
  if (config.imageEndpoint !== undefined) {
    const imageListenPath = socketOf(config.imageListen ?? `unix://${defaultImageListen(config.listen)}`);
    routes.push({ socketPath: imageListenPath, endpoint: config.imageEndpoint, upstreamPath: socketOf(config.imageEndpoint) });
  }
  return routes;
}

/** What criscope is, for metrics and spans. */
export interface BuildInfo {
  readonly version: string;
}

interface Telemetry {
  readonly observer: CallObserver;
  readonly recorder: FlightRecorder;
  readonly dumper: FlightDumper;
  readonly top: TopView;
  readonly traceContinuation: TraceContinuation | undefined;
  stop(): Promise<void>;
}

/**
 * Everything that watches calls, in the order each needs the others: pod
 * starts first (metrics and spans ask it which pod start a call belongs to),
 * then metrics, spans, policy's own observers and the log.
 */
async function startTelemetry(
  config: Config,
  build: { version: string; node: string },
  table: MethodTable,
  metrics: Registry,
  callsInFlight: CallsInFlight,
  policyObservers: readonly CallObserver[],
  log: Logger,
  env: NodeJS.ProcessEnv,
): Promise<Telemetry> {
  const podStarts = new PodStarts(config.podStart, callsInFlight, log);
  const nodeMetrics = new NodeMetrics(metrics, build);
  podStarts.addListener(nodeMetrics);
  const observers: CallObserver[] = [podStarts, new CallMetrics(metrics, table, callsInFlight), nodeMetrics];
  const exportStats = spanExportMetrics(metrics);
  const settings = tracingSettings(config, env);
  let tracing: RunningTracing | undefined;
  let callSpans: CallSpans | undefined;
  if (settings !== undefined) {
    // The OpenTelemetry SDK and its exporter are loaded only when tracing is on: unused, they would be a good part of criscope's memory.
    const [{ startTracing }, { CallSpans }] = await Promise.all([import('../telemetry/tracing/start-tracing.js'), import('../telemetry/tracing/call-spans.js')]);
    tracing = startTracing(settings, build, exportStats, log);
    callSpans = new CallSpans(tracing.spans, podStarts, rpcConventions(env['OTEL_SEMCONV_STABILITY_OPT_IN']));
    podStarts.addListener(callSpans);
    observers.push(callSpans);
  }
  const recorder = new FlightRecorder(
    { ...config.flightRecorder, maxSubscribers: config.admin.maxSubscribers, maxQueuedBytesPerSubscriber: config.admin.subscriberQueueBytes },
    callsInFlight,
  );
  recorderMetrics(metrics, recorder);
  // After the recorder: a call that makes a dump is in it.
  const dumper = new FlightDumper(recorder, config.flightRecorder, callsInFlight, build.version, log);
  const rates = new CallRates(table);
  observers.push(...policyObservers, new CallLog(log), recorder, dumper, rates);
  dumper.start();
  return {
    observer: new CallObservers(observers, (error, record) => log.error({ err: error, path: record.path }, 'a call observer failed')),
    recorder,
    dumper,
    top: new TopView(rates, podStarts, callsInFlight),
    traceContinuation: callSpans,
    async stop() {
      podStarts.close();
      await dumper.stop();
      callSpans?.endOpenRoots();
      await tracing?.shutdown(2000);
    },
  };
}

interface RunningPolicy {
  readonly engine: PolicyEngine;
  readonly reloader: PolicyReloader;
  /** The directory learns pods and containers from calls; metrics and the log report decisions. */
  readonly observers: readonly CallObserver[];
}

/** Loads the policy file (a bad one refuses to start, naming the path and reason) and what judging needs. */
function startPolicy(path: string, runtimeClient: RuntimeClient, imageClient: RuntimeClient, maxMessageBytes: number, metrics: Registry, log: Logger): RunningPolicy {
  const directory = new RuntimeDirectory(runtimeClient, imageClient, maxMessageBytes);
  const engine = new PolicyEngine(loadPolicy(path), directory);
  const policyMetrics = new PolicyMetrics(metrics);
  const reloader = new PolicyReloader(path, engine, policyMetrics, log);
  log.info({ path, rules: engine.policy.rules.length, mode: engine.policy.mode }, 'policy loaded');
  return { engine, reloader, observers: [directory, policyMetrics, new PolicyLog(log)] };
}

/**
 * What the warm-up's calls are tracked with: observers of the kinds real calls
 * have (so their code is warmed too), made for the warm-up alone and dropped
 * after it, so that no metric, record or log line counts its calls.
 */
function warmUpTracking(table: MethodTable, config: Config, log: Logger): WarmUpTracking {
  const quiet = log.child({}, { level: 'silent' });
  const observers: CallObserver[] = [
    new CallMetrics(new Registry(), table, () => []),
    new FlightRecorder({ maxRecords: 100, maxBytes: 64 * 1024, maxSubscribers: 0, maxQueuedBytesPerSubscriber: 0 }),
    new CallRates(table),
    new CallLog(quiet),
  ];
  return {
    table,
    observer: new CallObservers(observers, () => undefined),
    keepMessagesUpTo: config.maxMessageBytes,
    maxKeptBytesPerConnection: config.maxKeptBytesPerConnection,
    log: quiet,
  };
}

/** Wires criscope together from a validated config and starts serving. */
export async function startCriscope(config: Config, log: Logger, build: BuildInfo, env: NodeJS.ProcessEnv = process.env): Promise<RunningCriscope> {
  const runtimeEndpoint = config.runtimeEndpoint ?? (await discoverRuntimeEndpoint());
  const table = buildMethodTable(loadCriProto());
  const routes = relayRoutes(config, runtimeEndpoint);
  // First, before anything that would see its calls: the warm-up's are observed by observers of their own.
  const warmed = await warmUp(routes[0], warmUpTracking(table, config, log), log);
  const metrics = new Registry();
  // prom-client samples event-loop delay every 10 ms by default, which alone costs an idle
  // criscope several ms of CPU a second; every 100 ms still catches any stall kubelet would feel.
  collectDefaultMetrics({ register: metrics, prefix: 'criscope_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const node = config.nodeName ?? env['NODE_NAME'] ?? hostname();
  const runtimeClient = new RuntimeClient(socketOf(runtimeEndpoint), table);
  const runtimeMetrics = new RuntimeMetrics(
    metrics,
    routes.map((route) => route.endpoint),
    runtimeEndpoint,
    () => runtimeClient.version(1000),
  );
  const imageClient = config.imageEndpoint === undefined ? runtimeClient : new RuntimeClient(socketOf(config.imageEndpoint), table);
  const policy = config.policyFile === undefined ? undefined : startPolicy(config.policyFile, runtimeClient, imageClient, config.maxMessageBytes, metrics, log);
  // The relay is made below, with the telemetry's observer; metrics read its calls only at scrape time, once it exists.
  const telemetry = await startTelemetry(config, { version: build.version, node }, table, metrics, () => relay.callsInFlight(), policy?.observers ?? [], log, env);
  const relay = new RelayServer({
    routes,
    passedFds: takeSystemdListenFds(process.env, process.pid),
    socketMode: config.socketMode,
    log,
    tracking: { table, observer: telemetry.observer, keepMessagesUpTo: config.maxMessageBytes, maxKeptBytesPerConnection: config.maxKeptBytesPerConnection, log, traceContinuation: telemetry.traceContinuation, gate: policy?.engine ?? OPEN_GATE },
    onReachabilityChange: (endpoint, reachable) => {
      runtimeMetrics.reachabilityChanged(endpoint, reachable);
      telemetry.dumper.reachabilityChanged(endpoint, reachable);
    },
  });
  const separator = config.httpListen.lastIndexOf(':');
  const httpHost = config.httpListen.slice(0, separator);
  const ops = new OpsServer({
    host: httpHost.replace(/^\[|\]$/g, ''),
    port: Number(config.httpListen.slice(separator + 1)),
    probeRuntime: () => runtimeClient.version(2000),
    metrics,
  });
  try {
    await relay.listen();
  } catch (error) {
    policy?.reloader.stop();
    runtimeClient.close();
    if (imageClient !== runtimeClient) imageClient.close();
    await telemetry.stop();
    throw error;
  }
  const adminSocket = config.admin.socket ?? defaultAdminSocket(config.listen);
  const admin = new AdminServer(adminSocket, { recorder: telemetry.recorder, top: telemetry.top, imageSizes: (images) => imageSizes(imageClient, images) }, build.version, log);
  let adminServed = true;
  try {
    await admin.listen();
  } catch (error) {
    adminServed = false;
    // Reading calls is for operators; kubelet needs the relay whether or not it is served.
    log.error({ err: error, adminSocket }, 'cannot serve the admin socket (criscope tail); relaying all the same');
  }
  const httpPort = await ops.listenRetrying(HTTP_RETRY_MS, {
    onFailed: (error) => log.error({ http: config.httpListen, err: error, retryMs: HTTP_RETRY_MS }, 'cannot serve /healthz, /readyz and /metrics; relaying all the same, and trying again'),
    onListening: (port) => log.info({ http: `${httpHost}:${port}` }, 'serving /healthz, /readyz and /metrics'),
  });
  log.info(
    {
      routes: routes.map((route) => ({ listen: `unix://${route.socketPath}`, endpoint: route.endpoint })),
      admin: adminServed ? adminSocket : null,
      warmUp: { answered: warmed.answered, ms: Math.round(warmed.elapsedMs) },
      // Last: scripts find the HTTP address right before the message.
      http: httpPort === undefined ? null : `${httpHost}:${httpPort}`,
    },
    'criscope serving',
  );
  policy?.reloader.start();
  return {
    reloadPolicy() {
      policy?.reloader.reload(true);
    },
    dumpFlightRecorder() {
      void telemetry.dumper.dumpNow('SIGUSR1');
    },
    async stop() {
      policy?.reloader.stop();
      const { abandonedCalls } = await relay.shutdown(config.shutdownGraceSeconds * 1000);
      runtimeClient.close();
      if (imageClient !== runtimeClient) imageClient.close();
      await ops.close();
      await admin.close();
      await telemetry.stop();
      log.info({ abandonedCalls }, 'criscope stopped');
    },
  };
}
