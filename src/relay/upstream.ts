import { connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { connect as connectSocket } from 'node:net';
import type { Logger } from 'pino';
import type { CriApi } from '../cri/method-table.js';
import { http2SessionOptions, type RelayLimits } from './session-options.js';

/**
 * One HTTP/2 connection to a runtime socket, made on first use and made again
 * after the runtime closes it (a restart), so calls heal by themselves. A call
 * that finds the socket gone fails at once instead of waiting.
 */
export class Upstream {
  private session: ClientHttp2Session | undefined;
  private reachable: boolean | undefined;

  constructor(
    readonly endpoint: string,
    private readonly socketPath: string,
    private readonly limits: RelayLimits,
    private readonly log: Logger,
  ) {}

  /** Opens a stream for one call; the caller handles its errors. */
  request(headers: OutgoingHttpHeaders): ClientHttp2Stream {
    return this.currentSession().request(headers, { endStream: false });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private currentSession(): ClientHttp2Session {
    const session = this.session;
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    return this.connect();
  }

  private connect(): ClientHttp2Session {
    const session = connect('http://localhost', {
      ...http2SessionOptions(this.limits),
      createConnection: () => connectSocket(this.socketPath),
    });
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('connect', () => {
      session.setLocalWindowSize(this.limits.connectionWindowBytes);
      if (this.reachable !== true) this.log.info({ endpoint: this.endpoint }, 'runtime connected');
      this.reachable = true;
    });
    session.on('error', (error: NodeJS.ErrnoException) => {
      if (this.reachable !== false) this.log.warn({ endpoint: this.endpoint, err: error.message }, 'runtime unreachable');
      this.reachable = false;
      forget();
    });
    session.on('goaway', forget);
    session.on('close', forget);
    this.session = session;
    return session;
  }
}

/** Picks the runtime or image endpoint for a call. */
export class UpstreamRouter {
  constructor(
    private readonly runtime: Upstream,
    private readonly image: Upstream = runtime,
  ) {}

  forApi(api: CriApi): Upstream {
    return api === 'image' ? this.image : this.runtime;
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}
