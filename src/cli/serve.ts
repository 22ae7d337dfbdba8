import type { Config } from '../config/schema.js';
import { unixSocketPath } from '../config/endpoint.js';
import { loadCriProto } from '../cri/proto-root.js';
import { buildMethodTable } from '../cri/method-table.js';
import { OpsServer } from '../http/ops-server.js';
import { RelayServer } from '../relay/relay-server.js';
import { relayLimits } from '../relay/session-options.js';
import { Upstream, UpstreamRouter } from '../relay/upstream.js';
import { discoverRuntimeEndpoint } from '../runtime/discover.js';
import { RuntimeClient } from '../runtime/runtime-client.js';
import { CallLog } from '../telemetry/call-log.js';
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

/** Wires criscope together from a validated config and starts serving. */
export async function startCriscope(config: Config, log: Logger): Promise<RunningCriscope> {
  const runtimeEndpoint = config.runtimeEndpoint ?? (await discoverRuntimeEndpoint());
  const table = buildMethodTable(loadCriProto());
  const limits = relayLimits(config.maxMessageBytes);
  const runtime = new Upstream(runtimeEndpoint, socketOf(runtimeEndpoint), limits, log);
  const image = config.imageEndpoint === undefined ? runtime : new Upstream(config.imageEndpoint, socketOf(config.imageEndpoint), limits, log);
  const upstreams = new UpstreamRouter(runtime, image);
  const relay = new RelayServer({
    socketPath: socketOf(config.listen),
    socketMode: config.socketMode,
    limits,
    log,
    context: { table, upstreams, observer: new CallLog(log), keepMessagesUpTo: config.maxMessageBytes },
  });
  const runtimeClient = new RuntimeClient(socketOf(runtimeEndpoint), table);
  const separator = config.httpListen.lastIndexOf(':');
  const ops = new OpsServer({
    host: config.httpListen.slice(0, separator).replace(/^\[|\]$/g, ''),
    port: Number(config.httpListen.slice(separator + 1)),
    probeRuntime: () => runtimeClient.version(2000),
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
    { listen: config.listen, runtimeEndpoint, imageEndpoint: config.imageEndpoint ?? runtimeEndpoint, http: `${config.httpListen.slice(0, separator)}:${httpPort}` },
    'criscope serving',
  );
  return {
    httpPort,
    async stop() {
      const { abandonedCalls } = await relay.shutdown(config.shutdownGraceSeconds * 1000);
      upstreams.close();
      runtimeClient.close();
      await ops.close();
      log.info({ abandonedCalls }, 'criscope stopped');
    },
  };
}
