// Whether a relay's memory levels off under steady small calls, or keeps growing: its VmRSS,
// sampled at even steps over the run, so a trend shows apart from one noisy reading.

import { runCalls } from "./call-runner.js";
import type { CallSpec } from "./call-specs.js";
import { residentBytes } from "./proc-stats.js";
import type { BenchTarget } from "./targets.js";

const SAMPLES = 40;

export interface RssSample {
  /** Calls made in this phase when the sample was taken. */
  readonly calls: number;
  readonly bytes: number;
}

export interface RssRun {
  readonly atStartBytes: number;
  readonly samples: readonly RssSample[];
}

export interface RssSummary {
  readonly calls: number;
  readonly atStartBytes: number;
  readonly finalBytes: number;
  readonly secondQuarterMedianBytes: number;
  readonly lastQuarterMedianBytes: number;
  /** From the second quarter's median to the last's, per call made between their middles. */
  readonly slopeBytesPerCall: number;
}

export async function measureRss(
  relay: BenchTarget & { readonly relayPid: number },
  specs: readonly CallSpec[],
  totalCalls: number,
  concurrency: number,
): Promise<RssRun> {
  const atStartBytes = residentBytes(relay.relayPid);
  const samples: RssSample[] = [];
  for (let step = 1; step <= SAMPLES; step++) {
    const calls = Math.round((totalCalls * step) / SAMPLES);
    const made = samples.at(-1)?.calls ?? 0;
    if (calls > made) await runCalls(relay.client, specs, concurrency, { calls: calls - made });
    samples.push({ calls, bytes: residentBytes(relay.relayPid) });
  }
  return { atStartBytes, samples };
}

/** The first quarter is left out: it may still hold warm-up growth that levels off. */
export function summarizeRss(run: RssRun): RssSummary {
  const { samples } = run;
  const quarter = (index: number): readonly RssSample[] => samples.slice(Math.floor((samples.length * index) / 4), Math.floor((samples.length * (index + 1)) / 4));
  const second = quarter(1);
  const last = quarter(3);
  const secondMedian = median(second.map((sample) => sample.bytes));
  const lastMedian = median(last.map((sample) => sample.bytes));
  const callsBetween = median(last.map((sample) => sample.calls)) - median(second.map((sample) => sample.calls));
  return {
    calls: samples.at(-1)?.calls ?? 0,
    atStartBytes: run.atStartBytes,
    finalBytes: samples.at(-1)?.bytes ?? Number.NaN,
    secondQuarterMedianBytes: secondMedian,
    lastQuarterMedianBytes: lastMedian,
    slopeBytesPerCall: callsBetween > 0 ? (lastMedian - secondMedian) / callsBetween : Number.NaN,
  };
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}
