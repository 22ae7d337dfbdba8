import type { CriMethod } from '../cri/method-table.js';
import type { CriIdentity } from '../cri/method-specs.js';

/** A call still waiting for its answer, as the relay sees it: what metrics and pod starts read of it. */
export interface CallInFlight {
  readonly path: string;
  readonly method: CriMethod | undefined;
  readonly service: string;
  readonly methodName: string;
  readonly serverStreaming: boolean;
  /** performance.now() when its request headers arrived. */
  readonly startedTick: number;
  /** Response messages relayed so far. */
  readonly responseMessages: number;
  /** The identity its request carries, decoded now; undefined until the request has arrived. */
  requestIdentity(): CriIdentity | undefined;
}

/** Every call in flight on the node's relay, read when needed (at a scrape, when a pod start may be over). */
export type CallsInFlight = () => Iterable<CallInFlight>;
