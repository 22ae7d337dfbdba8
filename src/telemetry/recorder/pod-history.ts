import type { CALL_ENTRY_VERSION, CallEntry } from './call-entry.js';
import type { InFlightEntry } from './in-flight-entry.js';

/** What GET /v1/pods/NAMESPACE/NAME/history answers: the pod's calls the recorder holds, and those in flight. */
export interface PodHistory {
  readonly v: typeof CALL_ENTRY_VERSION;
  readonly pod: { readonly namespace: string; readonly name: string };
  /** All the recorder holds, of every pod: how many calls, and since when (the oldest's time). */
  readonly held: { readonly calls: number; readonly since: string | undefined };
  /** The pod's finished calls, in the order they were made. */
  readonly calls: readonly CallEntry[];
  /** The pod's calls in flight now, oldest first. */
  readonly inFlight: readonly InFlightEntry[];
  /** The size in bytes of each image it pulled, as the runtime has it now (PullImage answers no size); one it no longer has is left out. */
  readonly imageSizes: Readonly<Record<string, number>>;
}
