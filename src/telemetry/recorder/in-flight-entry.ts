import type { CallInFlight } from '../call-in-flight.js';
import { CALL_ENTRY_VERSION, entryService, type EntryIdentity } from './call-entry.js';

/**
 * A call still waiting for its answer, as the admin API and flight dumps show
 * it: what it asks about (from its request) and how long it has waited.
 */
export interface InFlightEntry extends EntryIdentity {
  readonly v: typeof CALL_ENTRY_VERSION;
  /** When the request arrived, as an ISO 8601 UTC time with milliseconds. */
  readonly time: string;
  readonly service: string;
  readonly method: string;
  /** How long it had waited when this entry was made. */
  readonly ageMs: number;
}

/** The entry for a call in flight now; its request is decoded here, at the reader's request, never on the relay's path. */
export function inFlightEntry(call: CallInFlight, nowTick = performance.now()): InFlightEntry {
  const identity = call.requestIdentity();
  const ageMs = Math.round(nowTick - call.startedTick);
  return {
    v: CALL_ENTRY_VERSION,
    time: new Date(Date.now() - ageMs).toISOString(),
    service: entryService(call.service),
    method: call.methodName,
    ageMs,
    podNamespace: identity?.podNamespace,
    podName: identity?.podName,
    podUid: identity?.podUid,
    sandboxId: identity?.sandboxId,
    containerId: identity?.containerId,
    containerName: identity?.containerName,
    image: identity?.image,
  };
}
