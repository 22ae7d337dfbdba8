/** The window `criscope top` shows: the last minute, one slot a second. */
export const WINDOW_SECONDS = 60;

/** Duration bins on a log scale, four to a doubling (each about 19% wide): from 0.1 ms to about 5.9 minutes (the last bin, 0.1 ms × 2^(87/4)), and anything longer in that last bin. */
const BINS_PER_DOUBLING = 4;
const BASE_MS = 0.1;
export const BIN_COUNT = 88;

/** The bin of a duration: 0 below BASE_MS, the last one for anything longer than the scale. */
export function durationBin(durationMs: number): number {
  if (!(durationMs > BASE_MS)) return 0;
  return Math.min(BIN_COUNT - 1, Math.ceil(Math.log2(durationMs / BASE_MS) * BINS_PER_DOUBLING));
}

/** The duration a bin stands for: the geometric middle of its bounds (within 10% of any duration in it). */
export function binMiddleMs(bin: number): number {
  return bin === 0 ? BASE_MS / 2 : BASE_MS * 2 ** ((bin - 0.5) / BINS_PER_DOUBLING);
}

/** One method's last minute, summed up. */
export interface WindowSummary {
  readonly calls: number;
  readonly errors: number;
  /** The seconds the sums cover: the window, or less when counting began more recently. */
  readonly seconds: number;
  /** Undefined when there was no call. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/**
 * The last WINDOW_SECONDS of one method's calls, kept in a slot per second:
 * its calls, errors and a histogram of durations. Adding a call is a few
 * array increments (a slot is cleared when a new second reuses it), and
 * nothing is allocated: the arrays are made once.
 */
export class MethodWindow {
  private readonly calls = new Uint32Array(WINDOW_SECONDS);
  private readonly errors = new Uint32Array(WINDOW_SECONDS);
  private readonly bins = new Uint32Array(WINDOW_SECONDS * BIN_COUNT);
  /** The second each slot holds; -1 for none yet. */
  private readonly seconds = new Float64Array(WINDOW_SECONDS).fill(-1);

  /** A call that ended in `second` (whole seconds of a monotonic clock). */
  add(second: number, durationMs: number, failed: boolean): void {
    const slot = second % WINDOW_SECONDS;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.calls[slot] = 0;
      this.errors[slot] = 0;
      this.bins.fill(0, slot * BIN_COUNT, (slot + 1) * BIN_COUNT);
    }
    this.calls[slot]++;
    if (failed) this.errors[slot]++;
    this.bins[slot * BIN_COUNT + durationBin(durationMs)]++;
  }

  /**
   * The calls of the WINDOW_SECONDS up to and including the current one, at
   * `now` (seconds of the same clock as add()'s, with their fraction), counted since `since`.
   */
  summary(now: number, since: number): WindowSummary {
    const nowSecond = Math.floor(now);
    const histogram = new Array<number>(BIN_COUNT).fill(0);
    let calls = 0;
    let errors = 0;
    for (let slot = 0; slot < WINDOW_SECONDS; slot++) {
      const second = this.seconds[slot];
      if (second < 0 || second > nowSecond || second <= nowSecond - WINDOW_SECONDS) continue;
      calls += this.calls[slot];
      errors += this.errors[slot];
      for (let bin = 0; bin < BIN_COUNT; bin++) histogram[bin] += this.bins[slot * BIN_COUNT + bin];
    }
    // The current second has only partly passed: rates are over the time the counted slots cover, to the fraction.
    const seconds = Math.max(MIN_SECONDS, now - Math.max(nowSecond - WINDOW_SECONDS + 1, since));
    return { calls, errors, seconds, p50Ms: quantile(histogram, calls, 0.5), p99Ms: quantile(histogram, calls, 0.99) };
  }
}

/** A floor for the time rates are over, so a reading right at the start gives no absurd rate. */
const MIN_SECONDS = 0.001;

/** The duration below which a share `q` of the calls fall, as its bin's middle. */
function quantile(histogram: readonly number[], total: number, q: number): number | undefined {
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let bin = 0; bin < histogram.length; bin++) {
    seen += histogram[bin];
    if (seen >= rank) return binMiddleMs(bin);
  }
  return binMiddleMs(histogram.length - 1);
}
