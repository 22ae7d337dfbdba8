import { dirname, join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config/schema.js';
import { unixSocketPath } from '../config/endpoint.js';
import { loadCriProto } from '../cri/proto-root.js';
import { buildMethodTable } from '../cri/method-table.js';
import { OpsServer } from '../http/ops-server.js';
import { RelayServer, type RelayRoute } from '../relay/relay-server.js';
import { discoverRuntimeEndpoint } from '../runtime/discover.js';
import { RuntimeClient } from '../runtime/runtime-client.js';
import { CallObservers } from '../cri/call-record.js';
import { CallLog } from '../telemetry/call-log.js';
import { CallMetrics } from '../telemetry/call-metrics.js';
import type { Logger } from '../telemetry/logger.js';

export interface RunningCriscope {
  readonly httpPort: number;
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
    const imageListenPath = config.imageListen === undefined ? join(dirname(listenPath), 'criscope-image.sock') : socketOf(config.imageListen);
    routes.push({ socketPath: imageListenPath, endpoint: config.imageEndpoint, upstreamPath: socketOf(config.imageEndpoint) });
  }
  return routes;
}

/** Wires criscope together from a validated config and starts serving. */
export async function startCriscope(config: Config, log: Logger): Promise<RunningCriscope> {
  const runtimeEndpoint = config.runtimeEndpoint ?? (await discoverRuntimeEndpoint());
  const table = buildMethodTable(loadCriProto());
  const routes = relayRoutes(config, runtimeEndpoint);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'criscope_' });
  const relay = new RelayServer({
    routes,
    socketMode: config.socketMode,
    log,
    tracking: { table, observer: new CallObservers([new CallMetrics(metrics), new CallLog(log)]), keepMessagesUpTo: config.maxMessageBytes, log },
  });
  const runtimeClient = new RuntimeClient(socketOf(runtimeEndpoint), table);
  const separator = config.httpListen.lastIndexOf(':');
  const httpHost = config.httpListen.slice(0, separator);
  const ops = new OpsServer({
    host: httpHost.replace(/^\[|\]$/g, ''),
    port: Number(config.httpListen.slice(separator + 1)),
    probeRuntime: () => runtimeClient.version(2000),
    metrics,
  });
  const httpPort = await ops.listen();
  try {
    await relay.listen();
  } catch (error) {
    await ops.close();
    runtimeClient.close();
    throw error;
  }
  log.info(
    { routes: routes.map((route) => ({ listen: `unix://${route.socketPath}`, endpoint: route.endpoint })), http: `${httpHost}:${httpPort}` },
    'criscope serving',
  );
  return {
    httpPort,
    async stop() {
      const { abandonedCalls } = await relay.shutdown(config.shutdownGraceSeconds * 1000);
      runtimeClient.close();
      await ops.close();
      log.info({ abandonedCalls }, 'criscope stopped');
    },
  };
}
