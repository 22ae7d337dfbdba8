import { chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { claimSocketPath } from '../relay/socket-path.js';
import type { Logger } from '../telemetry/logger.js';
import { CALL_ENTRY_VERSION, type CallEntry } from '../telemetry/recorder/call-entry.js';
import type { PodHistory } from '../telemetry/recorder/pod-history.js';
import type { TopSnapshot } from '../telemetry/top/top-view.js';
import { entryMatcher, type EntryFilter } from '../telemetry/recorder/entry-filter.js';
import { entryLine } from '../telemetry/recorder/entry-line.js';
import { TooManySubscribersError, type FlightRecorder, type Subscription } from '../telemetry/recorder/flight-recorder.js';
import { RECORDER_HEADER } from '../telemetry/recorder/subscriber.js';

/** The admin API's version, in its paths: /v1/… */
export const ADMIN_API = 'v1';

/** A pod's history: /v1/pods/NAMESPACE/NAME/history. */
const POD_HISTORY = new RegExp(`^/${ADMIN_API}/pods/([^/]+)/([^/]+)/history$`);
const SERVED = [`/${ADMIN_API}/calls`, `/${ADMIN_API}/pods/NAMESPACE/NAME/history`, `/${ADMIN_API}/top`, `/${ADMIN_API}/version`];

/** What the admin API reads. */
export interface AdminSources {
  readonly recorder: FlightRecorder;
  /** /v1/top's numbers. */
  readonly top: { snapshot(): TopSnapshot };
  /** The size of each image the runtime has now, by name; the ones it cannot tell are left out. */
  readonly imageSizes: (images: readonly string[]) => Promise<Readonly<Record<string, number>>>;
}

/** The query parameters /v1/calls understands; any other is refused, so a typo never widens a filter. */
const CALL_PARAMETERS = new Set(['pod', 'namespace', 'method', 'errors', 'denied', 'slowerThanMs', 'service', 'sinceMs', 'follow']);

const RECORDER_OFF = "the flight recorder is off (flightRecorder.maxRecords is 0): criscope keeps no calls to tell a pod's history from; set flightRecorder.maxRecords (e.g. 20000) and restart criscope";

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

/** The latest time a Date can hold: a later sinceMs can only be a mistake. */
const MAX_TIME_MS = 8.64e15;
/** Held calls looked at per turn of the event loop while a reading is written: relaying never waits long for it. */
const DUMP_BATCH = 256;

function globs(parameters: URLSearchParams, name: string): string[] {
  const values = parameters.getAll(name);
  if (values.some((value) => value === '')) throw new BadQueryError(`${name} must not be empty`);
  return values;
}

export function callsQuery(parameters: URLSearchParams): CallsQuery {
  for (const name of parameters.keys()) if (!CALL_PARAMETERS.has(name)) throw new BadQueryError(`unknown parameter "${name}" (known: ${[...CALL_PARAMETERS].join(', ')})`);
  const service = parameters.get('service');
  if (service !== null && service !== 'runtime' && service !== 'image') throw new BadQueryError(`service must be runtime or image, not "${service}"`);
  const sinceMs = nonNegative(parameters.get('sinceMs'), 'sinceMs');
  if (sinceMs !== undefined && sinceMs > MAX_TIME_MS) throw new BadQueryError(`sinceMs must be a time in epoch milliseconds, not ${sinceMs}`);
  return {
    filter: {
      pods: globs(parameters, 'pod'),
      namespaces: globs(parameters, 'namespace'),
      methods: globs(parameters, 'method'),
      errors: flag(parameters.get('errors'), 'errors'),
      denied: flag(parameters.get('denied'), 'denied'),
      slowerThanMs: nonNegative(parameters.get('slowerThanMs'), 'slowerThanMs'),
      service: service ?? undefined,
    },
    sinceMs,
    follow: flag(parameters.get('follow'), 'follow'),
  };
}

/**
 * criscope's admin endpoint: HTTP on a unix socket only (call records name
 * pods and images), mode 0600. GET /v1/calls streams finished calls as JSON
 * lines: first those the flight recorder holds since `sinceMs`, then, with
 * `follow=1`, each call as it finishes, until the reader hangs up; GET /v1/top
 * and GET /v1/pods/NAMESPACE/NAME/history answer one JSON object each. At most
 * maxSubscribers readers of /v1/calls at once, following or not; a failure to serve one is
 * logged and answered, never more.
 */
export class AdminServer {
  private readonly server: Server;
  /** Each reader of /v1/calls, with its subscription when it follows. */
  private readonly readers = new Map<ServerResponse, Subscription | undefined>();

  constructor(
    private readonly socketPath: string,
    private readonly sources: AdminSources,
    private readonly version: string,
    private readonly log: Logger,
  ) {
    this.server = createServer((request, response) => this.serve(request, response));
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

  /** Ends every reading cleanly (a reader sees the end of its stream, not a cut), then the server. */
  async close(): Promise<void> {
    for (const [response, subscription] of this.readers) {
      // The lines a follower's batch still holds go out before its stream ends.
      subscription?.subscriber.flush();
      response.end();
    }
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private serve(request: IncomingMessage, response: ServerResponse): void {
    try {
      this.route(request, response);
    } catch (error) {
      this.log.error({ err: error, url: request.url }, 'the admin socket could not serve a request');
      if (!response.headersSent) reply(response, 500, { error: `criscope could not serve this request: ${(error as Error).message}` });
      else response.destroy();
    }
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    if (request.method !== 'GET') return reply(response, 405, { error: `${request.method ?? ''} is not served; the admin API is read-only (GET)` });
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://admin');
    } catch {
      return reply(response, 400, { error: `not a request path: ${request.url ?? ''}` });
    }
    if (url.pathname === `/${ADMIN_API}/version`) return reply(response, 200, { criscope: this.version, api: ADMIN_API });
    if (url.pathname === `/${ADMIN_API}/top`) return reply(response, 200, this.sources.top.snapshot());
    const pod = POD_HISTORY.exec(url.pathname);
    if (pod !== null) {
      let namespace: string;
      let name: string;
      try {
        [namespace, name] = [decodeURIComponent(pod[1]), decodeURIComponent(pod[2])];
      } catch {
        return reply(response, 400, { error: `not a pod's namespace and name: ${url.pathname}` });
      }
      this.podHistory(response, namespace, name).catch((error: unknown) => {
        this.log.error({ err: error, url: request.url }, 'the admin socket could not serve a request');
        if (!response.headersSent) reply(response, 500, { error: `criscope could not serve this request: ${(error as Error).message}` });
      });
      return;
    }
    if (url.pathname !== `/${ADMIN_API}/calls`) return reply(response, 404, { error: `no ${url.pathname} here; this criscope serves ${SERVED.join(', ')}` });
    let query: CallsQuery;
    try {
      query = callsQuery(url.searchParams);
    } catch (error) {
      if (error instanceof BadQueryError) return reply(response, 400, { error: error.message });
      throw error;
    }
    const limit = this.sources.recorder.maxSubscribers;
    if (this.readers.size >= limit) return reply(response, 503, { error: new TooManySubscribersError(limit).message });
    // Subscribed before the held calls are read, so that no call falls between the two; live calls wait until those are written.
    const subscription = query.follow ? this.sources.recorder.subscribe(query.filter, response, query.sinceMs !== undefined) : undefined;
    this.readers.set(response, subscription);
    response.once('close', () => {
      subscription?.end();
      this.readers.delete(response);
    });
    response.writeHead(200, { 'content-type': 'application/x-ndjson', [RECORDER_HEADER]: this.sources.recorder.keeps ? 'on' : 'off' });
    // A follower learns at once that it is subscribed, even before the first call.
    response.flushHeaders();
    const finish = (): void => {
      if (subscription !== undefined) subscription.subscriber.release();
      else response.end();
    };
    if (query.sinceMs === undefined) return finish();
    writeHeld(response, this.sources.recorder.heldNow(query.sinceMs), entryMatcher(query.filter), finish);
  }

  /** The pod's calls the recorder holds, in the order they were made, its calls in flight now, and the size of the images it pulled. */
  private async podHistory(response: ServerResponse, namespace: string, name: string): Promise<void> {
    if (!this.sources.recorder.keeps) return reply(response, 503, { error: RECORDER_OFF });
    const held = this.sources.recorder.heldNow();
    const ofPod = (entry: { podNamespace?: string; podName?: string }): boolean => entry.podName === name && entry.podNamespace === namespace;
    const calls = held.filter(ofPod).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    const inFlight = this.sources.recorder.inFlightNow().filter(ofPod);
    const pulled = calls.filter((call) => call.method === 'PullImage' && call.code === 0 && call.image !== undefined).map((call) => call.image as string);
    const history: PodHistory = {
      v: CALL_ENTRY_VERSION,
      pod: { namespace, name },
      held: { calls: held.length, since: held[0]?.time },
      calls,
      inFlight,
      imageSizes: pulled.length === 0 ? {} : await this.sources.imageSizes(pulled),
    };
    reply(response, 200, history);
  }
}

/**
 * Writes the held calls that match, a batch per turn of the event loop and
 * waiting whenever the reader's socket is full: a large reading never holds
 * up relaying, nor fills memory for a reader that does not read.
 */
function writeHeld(response: ServerResponse, entries: readonly CallEntry[], matches: (entry: CallEntry) => boolean, done: () => void): void {
  let index = 0;
  const step = (): void => {
    if (response.destroyed) return;
    for (let looked = 0; index < entries.length && looked < DUMP_BATCH; looked++) {
      const entry = entries[index++];
      if (!matches(entry)) continue;
      if (!response.write(entryLine(entry))) {
        response.once('drain', step);
        return;
      }
    }
    if (index < entries.length) setImmediate(step);
    else done();
  };
  step();
}

function reply(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
