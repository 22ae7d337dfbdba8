import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import type { CriMethod, MethodTable } from '../../cri/method-table.js';
import { MethodWindow, type WindowSummary } from './method-window.js';

/** The row of every call to a path the method table does not describe (runtime.v1alpha2, newer RPCs, junk): counted together. */
export const OTHER_PATHS = { service: 'other', method: '(other paths)' } as const;

/** A method's last minute, as `criscope top` shows it. */
export interface MethodRates extends WindowSummary {
  /** The method's :path; undefined for the row of other paths. */
  readonly path: string | undefined;
  /** The full gRPC service name. */
  readonly service: string;
  readonly method: string;
}

interface Followed {
  readonly path: string | undefined;
  readonly service: string;
  readonly method: string;
  readonly window: MethodWindow;
}

/**
 * Each method's calls over the last minute, for `criscope top`. Every method
 * of the table has its window from the start, and calls to any other path
 * share one: a client sending many paths can neither grow this nor push CRI's
 * methods out. The work per call is one map look-up and a few array
 * increments (see MethodWindow); the sums, rates and percentiles are made
 * only when a reader asks.
 */
export class CallRates implements CallObserver {
  private readonly byPath: ReadonlyMap<string, Followed>;
  private readonly other: Followed = { path: undefined, ...OTHER_PATHS, window: new MethodWindow() };
  /** Rates are per second since then (performance.now() ms), until a whole window has passed. */
  private readonly sinceTick: number;

  constructor(table: MethodTable, nowTick = performance.now()) {
    this.byPath = new Map([...table.methods].map((method: CriMethod) => [method.path, { path: method.path, service: method.service, method: method.name, window: new MethodWindow() }]));
    this.sinceTick = nowTick;
  }

  onCall(record: CallRecord): void {
    const followed = (record.method === undefined ? undefined : this.byPath.get(record.method.path)) ?? this.other;
    followed.window.add(Math.floor(record.endTick / 1000), record.durationSeconds * 1000, record.code !== 0);
  }

  /** Every method, and the other paths, summed up to now (performance.now() ms). */
  summaries(nowTick = performance.now()): MethodRates[] {
    return [...this.byPath.values(), this.other].map(({ path, service, method, window }) => ({ path, service, method, ...window.summary(nowTick / 1000, this.sinceTick / 1000) }));
  }
}
