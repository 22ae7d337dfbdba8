import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../telemetry/logger.js';
import type { TrackingContext } from './call-tracker.js';
import { RelayServer, type RelayRoute } from './relay-server.js';
import { OPEN_GATE, type RequestGate } from './request-gate.js';

/**
 * What kubelet asks when it starts and on every relist, all read-only: the
 * calls criscope relays to itself to warm up. Their requests are empty, which
 * each of these methods accepts.
 */
export const WARM_UP_PATHS: readonly string[] = [
  '/runtime.v1.RuntimeService/Version',
  '/runtime.v1.RuntimeService/ListPodSandbox',
  '/runtime.v1.RuntimeService/ListContainers',
  '/runtime.v1.ImageService/ListImages',
  '/runtime.v1.ImageService/ImageFsInfo',
];

export interface WarmUpSettings {
  /** Rounds of WARM_UP_PATHS, each round's calls sent at once, as kubelet sends a relist. */
  readonly rounds: number;
  /** The most the warm-up's calls may take in all: criscope's sockets open after it. */
  readonly budgetMs: number;
}

export const DEFAULT_WARM_UP: WarmUpSettings = { rounds: 5, budgetMs: 1000 };

/** What the warm-up's calls are tracked with: everything but the gate, which is the warm-up's own. */
export type WarmUpTracking = Omit<TrackingContext, 'gate' | 'traceContinuation'>;

const NOBODY = { namespace: '', name: '', uid: '', labels: {} };

/** The warm-up's socket relays the warm-up's calls and nothing else: it has no policy, and no one else is meant to use it. */
const WARM_UP_CALLS_ONLY: RequestGate = {
  ...OPEN_GATE,
  refuses: (path) =>
    WARM_UP_PATHS.includes(path)
      ? undefined
      : { decision: { method: path, pod: NOBODY, findings: [], denial: "criscope's warm-up socket relays only its own warm-up calls", clamps: [] }, rewritten: undefined },
};

export interface WarmUpReport {
  /** Calls the runtime answered (any status but UNAVAILABLE or a missed deadline; an answer cut short for its size counts). */
  readonly answered: number;
  readonly elapsedMs: number;
}

const EMPTY_REQUEST = Buffer.alloc(0);

/** The largest answer the warm-up takes whole: a relist of a node of a few hundred containers. */
const MOST_ANSWER_BYTES = 512 * 1024;

/** True when the runtime answered the call, whatever its status. */
function relayOne(client: Client, path: string, deadline: number): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      () => EMPTY_REQUEST,
      (bytes: Buffer) => bytes,
      {},
      new Metadata(),
      { deadline },
      (error: ServiceError | null) => resolve(error === null || (error.code !== status.UNAVAILABLE && error.code !== status.DEADLINE_EXCEEDED)),
    );
  });
}

/**
 * Warms criscope before its sockets open. V8 compiles a function the first
 * time it runs and optimizes it once it has run a while; a fresh criscope
 * added tens of milliseconds to a kubelet's first calls (docs/benchmark.md).
 * So a few rounds of kubelet's read-only calls go through the relay's own
 * code, on a private socket beside `route`'s, to `route`'s runtime, observed
 * by `tracking` (observers made for the warm-up and dropped after it), and
 * what they find is dropped. Never throws. Its calls get `budgetMs` in all,
 * measured on a clock the wall clock's steps do not move; a runtime that does
 * not answer ends the warm-up after its first round.
 */
export async function warmUp(route: RelayRoute, tracking: WarmUpTracking, log: Logger, settings: WarmUpSettings = DEFAULT_WARM_UP): Promise<WarmUpReport> {
  const started = performance.now();
  const socketPath = `${route.socketPath}.warm-up`;
  const relay = new RelayServer({ routes: [{ ...route, socketPath }], socketMode: 0o600, tracking: { ...tracking, gate: WARM_UP_CALLS_ONLY }, log: tracking.log });
  let client: Client | undefined;
  let answered = 0;
  try {
    await relay.listen();
    // The client is in criscope's process: a runtime's largest answers (a big node's lists) are
    // cut short, as their first part warms the same code, and taking them whole left criscope's
    // memory tens of MiB higher (a 4 MiB ListContainers, five times).
    client = new Client(`unix://${socketPath}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': MOST_ANSWER_BYTES });
    for (let round = 0; round < settings.rounds; round++) {
      const remainingMs = settings.budgetMs - (performance.now() - started);
      if (remainingMs <= 0) break;
      // grpc-js takes an epoch time, and turns it into a timeout when each call starts.
      const deadline = Date.now() + remainingMs;
      const results = await Promise.all(WARM_UP_PATHS.map((path) => relayOne(client as Client, path, deadline)));
      const answeredNow = results.filter(Boolean).length;
      answered += answeredNow;
      if (answeredNow === 0) break;
    }
  } catch (error) {
    log.warn({ err: error, socketPath }, 'criscope could not warm up; it starts cold');
  } finally {
    client?.close();
    await relay.shutdown(0).catch((error: unknown) => log.warn({ err: error, socketPath }, 'the warm-up relay did not close cleanly'));
  }
  return { answered, elapsedMs: performance.now() - started };
}
