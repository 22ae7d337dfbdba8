import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import type { TrackedCall, TrackingContext } from './call-tracker.js';
import type { RuntimeReachability } from './connection-context.js';
import { ConnectionRelay } from './connection-relay.js';
import { claimSocketPath } from './socket-path.js';
import { boundPathOfFd } from './systemd-sockets.js';
import { ListenError } from '../errors.js';
import { sameSocket } from '../config/endpoint.js';

function listening(server: Server, where: string | { fd: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** One socket criscope listens on, and the runtime endpoint its connections are relayed to. */
export interface RelayRoute {
  readonly socketPath: string;
  readonly endpoint: string;
  readonly upstreamPath: string;
}

export interface RelayServerOptions {
  readonly routes: readonly RelayRoute[];
  /**
   * Listening sockets systemd passed (socket activation). Each must be one of the routes'
   * paths; those routes take it instead of binding, and leave its file alone.
   */
  readonly passedFds?: readonly number[];
  readonly socketMode: number;
  readonly tracking: TrackingContext;
  readonly log: Logger;
  /** Told when a runtime endpoint becomes reachable or unreachable (not on every connection). */
  readonly onReachabilityChange?: (endpoint: string, reachable: boolean) => void;
}

/** Logs the runtime's reachability when it changes, not on every connection. */
class ReachabilityLog implements RuntimeReachability {
  private readonly reachable = new Map<string, boolean>();

  constructor(
    private readonly log: Logger,
    private readonly onChange: (endpoint: string, reachable: boolean) => void = () => undefined,
  ) {}

  connected(endpoint: string): void {
    if (this.reachable.get(endpoint) === true) return;
    this.reachable.set(endpoint, true);
    this.log.info({ endpoint }, 'runtime connected');
    this.onChange(endpoint, true);
  }

  unreachable(endpoint: string, reason: string): void {
    if (this.reachable.get(endpoint) === false) return;
    this.reachable.set(endpoint, false);
    this.log.warn({ endpoint, reason }, 'runtime unreachable');
    this.onChange(endpoint, false);
  }
}

/**
 * The unix sockets kubelet talks to. Each client connection gets its own
 * connection to the runtime and a ConnectionRelay between the two. Owns the
 * listening sockets and the connections, so that it can shut down gracefully.
 */
export class RelayServer {
  private readonly servers: Server[] = [];
  /** Socket files criscope made, and removes on shutdown (not the ones systemd passed). */
  private readonly boundPaths: string[] = [];
  private readonly connections = new Set<ConnectionRelay>();
  private readonly reachability: ReachabilityLog;
  /** Set while shutdown waits for the last call to end. */
  private onCallEnded: (() => void) | undefined;

  constructor(private readonly options: RelayServerOptions) {
    this.reachability = new ReachabilityLog(options.log, options.onReachabilityChange);
  }

  get activeCalls(): number {
    let calls = 0;
    for (const connection of this.connections) calls += connection.activeCalls;
    return calls;
  }

  /** Every call in flight on every connection, for metrics read at scrape time. */
  *callsInFlight(): Generator<TrackedCall> {
    for (const connection of this.connections) yield* connection.callsInFlight();
  }

  async listen(): Promise<void> {
    const unserved = new Set(this.options.routes);
    for (const fd of this.options.passedFds ?? []) {
      const path = boundPathOfFd(fd);
      // systemd's ListenStream= and criscope's listen may spell one path differently (/var/run, //).
      const route = path === undefined ? undefined : this.options.routes.find((candidate) => sameSocket(candidate.socketPath, path));
      if (route === undefined) {
        const expected = this.options.routes.map((candidate) => candidate.socketPath).join(', ');
        throw new ListenError(path ?? `fd ${fd}`, `systemd passed this socket, but criscope listens on ${expected}; make the socket unit's ListenStream= and criscope's listen the same`);
      }
      await listening(this.createServer(route), { fd });
      unserved.delete(route);
    }
    for (const route of unserved) {
      await claimSocketPath(route.socketPath);
      await listening(this.createServer(route), route.socketPath);
      this.boundPaths.push(route.socketPath);
      await chmod(route.socketPath, this.options.socketMode);
    }
  }

  private createServer(route: RelayRoute): Server {
    const server = createServer((client: Socket) => {
      const relay = new ConnectionRelay(client, {
        tracking: this.options.tracking,
        endpoint: route.endpoint,
        upstreamPath: route.upstreamPath,
        reachability: this.reachability,
        log: this.options.log,
        onCallEnded: () => this.onCallEnded?.(),
        onClosed: () => {
          this.connections.delete(relay);
          this.onCallEnded?.();
        },
      });
      this.connections.add(relay);
    });
    this.servers.push(server);
    return server;
  }

  /**
   * Stops accepting connections, tells every client to open no new calls,
   * ends streaming calls at once (their clients reconnect), lets unary calls
   * finish for up to `graceMs`, then closes what is left and removes the socket files it
   * made. A socket systemd passed stays with systemd, which queues new connections on it
   * until criscope is back.
   */
  async shutdown(graceMs: number): Promise<{ abandonedCalls: number }> {
    const closed = Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const connection of this.connections) connection.drain('criscope is shutting down');
    if (this.activeCalls > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
        this.onCallEnded = () => {
          if (this.activeCalls === 0) resolve();
        };
      });
      clearTimeout(timer);
    }
    const abandonedCalls = this.activeCalls;
    for (const connection of this.connections) connection.close();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    for (const connection of this.connections) connection.destroy();
    await closed;
    await Promise.all(this.boundPaths.map((path) => unlink(path).catch(() => undefined)));
    return { abandonedCalls };
  }
}
