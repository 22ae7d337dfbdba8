import type { Logger } from '../telemetry/logger.js';
import type { TrackingContext } from './call-tracker.js';

/** Tells whether the runtime answers, once per change rather than once per connection. */
export interface RuntimeReachability {
  connected(endpoint: string): void;
  unreachable(endpoint: string, reason: string): void;
}

/** What the relay server gives each connection it relays. */
export interface ConnectionContext {
  readonly tracking: TrackingContext;
  /** The runtime endpoint this connection is relayed to, and its socket path. */
  readonly endpoint: string;
  readonly upstreamPath: string;
  readonly reachability: RuntimeReachability;
  readonly log: Logger;
  /** Called when a call ends (the server may be waiting for the last one). */
  readonly onCallEnded: () => void;
  /** Called once when the client connection is gone. */
  readonly onClosed: () => void;
}
