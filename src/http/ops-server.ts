import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { RuntimeVersion } from '../runtime/runtime-client.js';

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  /** Asks the runtime for its Version; rejects when it does not answer. */
  readonly probeRuntime: () => Promise<RuntimeVersion>;
  readonly metrics: Registry;
}

/** criscope's operator endpoints: /healthz (the process is alive), /readyz (the runtime answers Version), /metrics (Prometheus). */
export class OpsServer {
  private readonly server: Server;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OpsServerOptions) {
    this.server = createServer((request, response) => void this.route(request, response));
  }

  /** Resolves to the bound port (useful when configured as 0). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  /**
   * Listens, and while the address cannot be had (taken, or not yet on the node), tries
   * again every `retryMs`: kubelet needs the relay whether or not these endpoints serve,
   * so their failure never stops criscope. Resolves with the port once bound, or
   * undefined after the first failure (told to `onFailed`; `onListening` follows later).
   */
  async listenRetrying(retryMs: number, events: { onFailed(error: Error): void; onListening(port: number): void }): Promise<number | undefined> {
    try {
      return await this.listen();
    } catch (error) {
      events.onFailed(error as Error);
    }
    const retry = (): void => {
      this.retryTimer = setTimeout(() => {
        this.listen().then((port) => events.onListening(port), retry);
      }, retryMs);
      this.retryTimer.unref();
    };
    retry();
    return undefined;
  }

  close(): Promise<void> {
    clearTimeout(this.retryTimer);
    if (!this.server.listening) return Promise.resolve();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') return reply(response, 200, { status: 'ok' });
    if (path === '/readyz') {
      try {
        const version = await this.options.probeRuntime();
        return reply(response, 200, { status: 'ready', runtime: version });
      } catch (error) {
        return reply(response, 503, { status: 'not ready', reason: `runtime does not answer Version: ${(error as Error).message}` });
      }
    }
    if (path === '/metrics') {
      const body = await this.options.metrics.metrics();
      response.writeHead(200, { 'content-type': this.options.metrics.contentType });
      response.end(body);
      return;
    }
    return reply(response, 404, { status: 'not found', paths: ['/healthz', '/readyz', '/metrics'] });
  }
}

function reply(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
