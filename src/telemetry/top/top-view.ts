import type { CallsInFlight } from '../call-in-flight.js';
import { callTarget } from '../call-target.js';
import type { PodStartPhase, PodStarts } from '../pod-starts.js';
import { CALL_ENTRY_VERSION, entryService } from '../recorder/call-entry.js';
import { OTHER_PATHS, type CallRates } from './call-rates.js';
import { WINDOW_SECONDS } from './method-window.js';

/** One method in `criscope top`: its last minute, and its calls in flight now. */
export interface TopMethodRow {
  /** "runtime" or "image" for CRI's two services. */
  readonly service: string;
  readonly method: string;
  readonly callsPerSecond: number;
  readonly errorsPerSecond: number;
  /** Undefined when it had no call in the last minute. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly inFlight: number;
  /** How long its oldest call in flight has waited. */
  readonly oldestInFlightMs: number | undefined;
}

/** One pod start under way in `criscope top`. */
export interface TopPodRow {
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly uid: string;
  readonly ageMs: number;
  readonly phasesMs: Readonly<Record<PodStartPhase, number>>;
  /** Its oldest call in flight: the method, what it acts on (an image, a container), and for how long. */
  readonly waitingOn: { readonly method: string; readonly target: string | undefined; readonly ageMs: number } | undefined;
}

/** What GET /v1/top answers. */
export interface TopSnapshot {
  readonly v: typeof CALL_ENTRY_VERSION;
  readonly time: string;
  readonly windowSeconds: number;
  readonly methods: readonly TopMethodRow[];
  readonly podStarts: readonly TopPodRow[];
}

const round = (value: number, places: number): number => Math.round(value * 10 ** places) / 10 ** places;

/** `criscope top`'s numbers, made when asked from the per-method windows, the pod starts and the calls in flight. */
export class TopView {
  constructor(
    private readonly rates: CallRates,
    private readonly podStarts: PodStarts,
    private readonly callsInFlight: CallsInFlight,
  ) {}

  snapshot(nowTick = performance.now()): TopSnapshot {
    // By :path, as the rates are kept: calls in flight to paths the method table does not describe go to the row of other paths.
    const flying = new Map<string | undefined, { service: string; method: string; count: number; oldestTick: number }>();
    for (const call of this.callsInFlight()) {
      const key = call.method?.path;
      const seen = flying.get(key);
      if (seen === undefined) flying.set(key, { ...(call.method === undefined ? OTHER_PATHS : { service: call.service, method: call.methodName }), count: 1, oldestTick: call.startedTick });
      else {
        seen.count++;
        seen.oldestTick = Math.min(seen.oldestTick, call.startedTick);
      }
    }
    const methods: TopMethodRow[] = [];
    for (const rates of this.rates.summaries(nowTick)) {
      const inFlight = flying.get(rates.path);
      flying.delete(rates.path);
      if (rates.calls === 0 && inFlight === undefined) continue;
      methods.push({
        service: entryService(rates.service),
        method: rates.method,
        callsPerSecond: round(rates.calls / rates.seconds, 2),
        errorsPerSecond: round(rates.errors / rates.seconds, 2),
        p50Ms: rates.p50Ms === undefined ? undefined : round(rates.p50Ms, 2),
        p99Ms: rates.p99Ms === undefined ? undefined : round(rates.p99Ms, 2),
        inFlight: inFlight?.count ?? 0,
        oldestInFlightMs: inFlight === undefined ? undefined : Math.round(nowTick - inFlight.oldestTick),
      });
    }
    // Methods with calls in flight and none finished in the last minute: a call stuck since.
    for (const { service, method, count, oldestTick } of flying.values()) {
      methods.push({ service: entryService(service), method, callsPerSecond: 0, errorsPerSecond: 0, p50Ms: undefined, p99Ms: undefined, inFlight: count, oldestInFlightMs: Math.round(nowTick - oldestTick) });
    }
    const podStarts = this.podStarts.startingNow(nowTick).map((start) => ({
      namespace: start.namespace,
      name: start.name,
      uid: start.uid,
      ageMs: Math.round(start.ageMs),
      phasesMs: { sandbox: Math.round(start.phasesMs.sandbox), pulls: Math.round(start.phasesMs.pulls), creates: Math.round(start.phasesMs.creates), starts: Math.round(start.phasesMs.starts) },
      waitingOn: start.waitingOn === undefined ? undefined : { method: start.waitingOn.method, target: callTarget(start.waitingOn), ageMs: Math.round(start.waitingOn.ageMs) },
    }));
    return { v: CALL_ENTRY_VERSION, time: new Date().toISOString(), windowSeconds: WINDOW_SECONDS, methods, podStarts };
  }
}
