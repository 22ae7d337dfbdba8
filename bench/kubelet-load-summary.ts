// The kubelet-shaped load's figures: per call, what a relay added over direct (the relay's latency
// minus direct's for the same call of the same burst), as a distribution, by method and overall.

import type { KubeletLoadRun } from "./kubelet-load.js";
import { percentileOf } from "./latency-stats.js";
import type { RelayName } from "./targets.js";

export interface AddedDistribution {
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface KubeletCallRow {
  readonly label: string;
  readonly directP50: number;
  readonly directP99: number;
  readonly added: ReadonlyMap<RelayName, AddedDistribution>;
}

export interface KubeletLoadSummary {
  /** One row per method, in the order the load first sent them. */
  readonly byMethod: readonly KubeletCallRow[];
  /** Every call, the start burst's included: the figure the target is about. */
  readonly allCalls: KubeletCallRow;
  /** Only the calls of the start burst, each relay's first. */
  readonly startBurst: KubeletCallRow;
  readonly callsPerPath: number;
  readonly cpuMicrosecondsPerCall: ReadonlyMap<RelayName, number>;
}

interface CallSample {
  readonly burst: number;
  readonly slot: number;
  readonly label: string;
}

export function summarizeKubeletLoad(run: KubeletLoadRun): KubeletLoadSummary {
  const calls: CallSample[] = run.labels.flatMap((labels, burst) => labels.map((label, slot) => ({ burst, slot, label })));
  const relays = [...run.latencies.keys()].filter((name): name is RelayName => name !== "direct");
  const latencyOf = (name: RelayName | "direct", call: CallSample): number => run.latencies.get(name)?.[call.burst]?.[call.slot] ?? Number.NaN;

  const row = (label: string, subset: readonly CallSample[]): KubeletCallRow => {
    const direct = subset.map((call) => latencyOf("direct", call));
    const added = new Map(relays.map((relay) => [relay, distribution(subset.map((call) => latencyOf(relay, call) - latencyOf("direct", call)))]));
    return { label, directP50: percentileOf(direct, 0.5), directP99: percentileOf(direct, 0.99), added };
  };
  const methods = [...new Set(calls.map((call) => call.label))];
  return {
    byMethod: methods.map((method) => row(method, calls.filter((call) => call.label === method))),
    allCalls: row("all calls", calls),
    startBurst: row("start burst", calls.filter((call) => call.burst === 0)),
    callsPerPath: calls.length,
    cpuMicrosecondsPerCall: run.cpuMicrosecondsPerCall,
  };
}

function distribution(values: readonly number[]): AddedDistribution {
  const finite = values.filter((value) => Number.isFinite(value));
  return {
    samples: finite.length,
    p50: percentileOf(finite, 0.5),
    p90: percentileOf(finite, 0.9),
    p99: percentileOf(finite, 0.99),
    max: finite.length === 0 ? Number.NaN : Math.max(...finite),
  };
}
