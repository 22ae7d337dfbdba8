import type { Logger } from '../telemetry/logger.js';
import type { CallTracker, TrackedCall, TrackingContext } from './call-tracker.js';
import type { ClientAnswers } from './client-answers.js';
import type { FramePump } from './frame-pump.js';
import type { HeaderBlockReader } from './header-blocks.js';
import type { HeldRequests } from './held-requests.js';
import type { OwnedStreams } from './owned-streams.js';
import type { RequestBlocks } from './request-reparenting.js';
import type { SettingsParties } from './settings-exchange.js';
import type { StreamLimits } from './stream-limits.js';

/** Where a relayed connection is in its life. */
export type ConnectionState = 'preface' | 'relaying' | 'unavailable' | 'closed';

/** The parts of one relayed connection that both directions' frame handlers work with. */
export interface RelayParts {
  readonly tracking: TrackingContext;
  readonly log: Logger;
  readonly calls: CallTracker;
  /** Frames toward the client, and toward the runtime. */
  readonly toClient: FramePump;
  readonly toRuntime: FramePump;
  /** The HPACK context of each direction: the client's encoder, and the runtime's. */
  readonly requestBlocks: HeaderBlockReader;
  readonly responseBlocks: HeaderBlockReader;
  /** With tracing on, request blocks with a traceparent go on re-parented; off, every block goes on as it came. */
  readonly reparenting: RequestBlocks;
  /** The streams whose requests criscope holds, with their flow control; and the judging of those requests. */
  readonly owned: OwnedStreams;
  readonly held: HeldRequests;
  readonly answers: ClientAnswers;
  readonly limits: StreamLimits;
  readonly settings: SettingsParties;
}

/** What the frame handlers ask of the connection around them. */
export interface RelayLifecycle {
  state(): ConnectionState;
  /** True once the connection can no longer be read: frames still pass, calls are no longer recorded. */
  blind(): boolean;
  /** Ends both connections now. */
  destroy(): void;
  /** Ends both connections, answering calls in flight first. */
  close(reason: string): void;
  /** The client sent SETTINGS of its own (criscope acknowledges them itself once the runtime is gone). */
  clientSentSettings(): void;
  /** A call that arrived while the runtime is gone: it is answered UNAVAILABLE. */
  callWhileUnavailable(streamId: number, call: TrackedCall | undefined): void;
}
