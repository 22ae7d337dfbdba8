import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { CallRelay, type RelayContext } from './call-relay.js';
import { http2SessionOptions, type RelayLimits } from './session-options.js';
import { claimSocketPath } from './socket-path.js';

export interface RelayServerOptions {
  readonly socketPath: string;
  readonly socketMode: number;
  readonly limits: RelayLimits;
  readonly context: RelayContext;
  readonly log: Logger;
}

/**
 * The unix socket kubelet talks to: HTTP/2 with prior knowledge, each stream
 * handed to a CallRelay. Owns the listening socket, the client sessions and the
 * calls in flight, so that it can shut down gracefully.
 */
export class RelayServer {
  private readonly server: Http2Server;
  private readonly sessions = new Set<Http2Session>();
  private readonly calls = new Set<CallRelay>();
  private readonly callDone = (call: CallRelay): void => {
    this.calls.delete(call);
    if (this.calls.size === 0) this.onIdle?.();
  };
  private onIdle: (() => void) | undefined;

  constructor(private readonly options: RelayServerOptions) {
    const { context, log } = options;
    this.server = createServer(http2SessionOptions(options.limits));
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      this.calls.add(new CallRelay(stream, headers, rawHeaders, context, this.callDone));
    });
    this.server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.on('connect', () => session.setLocalWindowSize(options.limits.connectionWindowBytes));
      session.on('error', (error: Error) => log.debug({ err: error.message }, 'client connection error'));
      session.on('close', () => this.sessions.delete(session));
    });
    // Garbage on the socket ends that one connection; nothing else notices.
    this.server.on('sessionError', (error: Error) => log.warn({ err: error.message }, 'client connection failed'));
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  async listen(): Promise<void> {
    const { socketPath, socketMode } = this.options;
    await claimSocketPath(socketPath);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    await chmod(socketPath, socketMode);
  }

  /**
   * Stops accepting connections, ends streaming calls at once (their clients
   * reconnect), lets unary calls finish for up to `graceMs`, then cuts what is
   * left and removes the socket.
   */
  async shutdown(graceMs: number): Promise<{ abandonedCalls: number }> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.close();
    for (const call of this.calls) {
      if (call.serverStreaming) call.abort('criscope is shutting down');
    }
    let abandonedCalls = 0;
    if (this.calls.size > 0) {
      const idle = new Promise<void>((resolve) => (this.onIdle = resolve));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, timeout]);
      clearTimeout(timer);
      abandonedCalls = this.calls.size;
      for (const call of this.calls) call.abort('criscope is shutting down');
    }
    for (const session of this.sessions) session.destroy();
    await closed;
    await unlink(this.options.socketPath).catch(() => undefined);
    return { abandonedCalls };
  }
}
