import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import { MethodWindow, type WindowSummary } from './method-window.js';

/** The most methods followed: CRI has about forty; calls to any other path beyond this are not counted. */
const MAX_METHODS = 64;

/** A method's last minute, as `criscope top` shows it. */
export interface MethodRates extends WindowSummary {
  /** The full gRPC service name. */
  readonly service: string;
  readonly method: string;
}

/**
 * Each method's calls over the last minute, for `criscope top`. The work per
 * call is one map look-up and a few array increments (see MethodWindow); the
 * sums, rates and percentiles are made only when a reader asks.
 */
export class CallRates implements CallObserver {
  private readonly windows = new Map<string, { readonly service: string; readonly method: string; readonly window: MethodWindow }>();
  /** Rates are per second since then, until a whole window has passed. */
  private readonly sinceSecond: number;

  constructor(nowTick = performance.now()) {
    this.sinceSecond = Math.floor(nowTick / 1000);
  }

  onCall(record: CallRecord): void {
    const second = Math.floor(record.endTick / 1000);
    let kept = this.windows.get(record.path);
    if (kept === undefined) {
      if (this.windows.size >= MAX_METHODS) return;
      kept = { service: record.service, method: record.methodName, window: new MethodWindow() };
      this.windows.set(record.path, kept);
    }
    kept.window.add(second, record.durationSeconds * 1000, record.code !== 0);
  }

  /** Every method seen, summed up to now (performance.now() ms). */
  summaries(nowTick = performance.now()): MethodRates[] {
    const nowSecond = Math.floor(nowTick / 1000);
    return [...this.windows.values()].map(({ service, method, window }) => ({ service, method, ...window.summary(nowSecond, this.sinceSecond) }));
  }
}
