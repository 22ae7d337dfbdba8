import { chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { claimSocketPath } from '../relay/socket-path.js';
import type { EntryFilter } from '../telemetry/recorder/entry-filter.js';
import { TooManySubscribersError, type FlightRecorder } from '../telemetry/recorder/flight-recorder.js';

/** The admin API's version, in its paths: /v1/… */
export const ADMIN_API = 'v1';

/** The query parameters /v1/calls understands; any other is refused, so a typo never widens a filter. */
const CALL_PARAMETERS = new Set(['pod', 'namespace', 'method', 'errors', 'denied', 'slowerThanMs', 'service', 'sinceMs', 'follow']);

/** A request the admin API cannot serve as asked. */
class BadQueryError extends Error {}

/** What /v1/calls was asked for. */
interface CallsQuery {
  readonly filter: EntryFilter;
  /** Held calls from this time on (epoch ms) come first; none when undefined. */
  readonly sinceMs: number | undefined;
  readonly follow: boolean;
}

function flag(value: string | null, name: string): boolean {
  if (value === null) return false;
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new BadQueryError(`${name} must be 1 or 0, not "${value}"`);
}

function nonNegative(value: string | null, name: string): number | undefined {
  if (value === null) return undefined;
  const number = Number(value);
  if (value === '' || !Number.isFinite(number) || number < 0) throw new BadQueryError(`${name} must be a number of milliseconds, not "${value}"`);
  return number;
}

export function callsQuery(parameters: URLSearchParams): CallsQuery {
  for (const name of parameters.keys()) if (!CALL_PARAMETERS.has(name)) throw new BadQueryError(`unknown parameter "${name}" (known: ${[...CALL_PARAMETERS].join(', ')})`);
  const service = parameters.get('service');
  if (service !== null && service !== 'runtime' && service !== 'image') throw new BadQueryError(`service must be runtime or image, not "${service}"`);
  return {
    filter: {
      pods: parameters.getAll('pod'),
      namespaces: parameters.getAll('namespace'),
      methods: parameters.getAll('method'),
      errors: flag(parameters.get('errors'), 'errors'),
      denied: flag(parameters.get('denied'), 'denied'),
      slowerThanMs: nonNegative(parameters.get('slowerThanMs'), 'slowerThanMs'),
      service: service ?? undefined,
    },
    sinceMs: nonNegative(parameters.get('sinceMs'), 'sinceMs'),
    follow: flag(parameters.get('follow'), 'follow'),
  };
}

/**
 * criscope's admin endpoint: HTTP on a unix socket only (call records name
 * pods, images and commands), mode 0600. GET /v1/calls streams finished calls
 * as JSON lines: first those the flight recorder holds since `sinceMs`, then,
 * with `follow=1`, each call as it finishes, until the reader hangs up.
 */
export class AdminServer {
  private readonly server: Server;

  constructor(
    private readonly socketPath: string,
    private readonly recorder: FlightRecorder,
    private readonly version: string,
  ) {
    this.server = createServer((request, response) => this.route(request, response));
  }

  async listen(): Promise<void> {
    // A stale socket file is replaced; one another criscope still serves is refused.
    await claimSocketPath(this.socketPath);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // Made private before it can be connected to: the mode is set while the umask keeps it closed.
      const umask = process.umask(0o177);
      try {
        this.server.listen(this.socketPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    await chmod(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://admin');
    if (request.method !== 'GET') return reply(response, 405, { error: `${request.method ?? ''} is not served; the admin API is read-only (GET)` });
    if (url.pathname === `/${ADMIN_API}/version`) return reply(response, 200, { criscope: this.version, api: ADMIN_API });
    if (url.pathname !== `/${ADMIN_API}/calls`) return reply(response, 404, { error: `no ${url.pathname} here; this criscope serves /${ADMIN_API}/calls and /${ADMIN_API}/version` });
    let query: CallsQuery;
    try {
      query = callsQuery(url.searchParams);
    } catch (error) {
      if (error instanceof BadQueryError) return reply(response, 400, { error: error.message });
      throw error;
    }
    let unsubscribe: (() => void) | undefined;
    if (query.follow) {
      try {
        // Subscribed before the held calls are written, so no call falls between the two.
        unsubscribe = this.recorder.subscribe(query.filter, response);
      } catch (error) {
        if (error instanceof TooManySubscribersError) return reply(response, 503, { error: error.message });
        throw error;
      }
      response.once('close', unsubscribe);
    }
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    // A follower learns at once that it is subscribed, even before the first call.
    response.flushHeaders();
    if (query.sinceMs !== undefined) for (const entry of this.recorder.held(query.filter, query.sinceMs)) response.write(`${JSON.stringify(entry)}\n`);
    if (!query.follow) response.end();
  }
}

function reply(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
