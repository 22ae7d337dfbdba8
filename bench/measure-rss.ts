// Whether criscope's memory levels off under steady small calls, or keeps growing.

import { runCalls } from "./call-runner.js";
import type { CallSpec } from "./call-specs.js";
import { residentBytes } from "./proc-stats.js";
import type { BenchTarget } from "./targets.js";

export interface RssGrowth {
  readonly atStartBytes: number;
  readonly halfwayCalls: number;
  readonly halfwayBytes: number;
  readonly finalCalls: number;
  readonly finalBytes: number;
}

export async function measureRssGrowth(
  relay: BenchTarget & { readonly relayPid: number },
  specs: readonly CallSpec[],
  totalCalls: number,
  concurrency: number,
): Promise<RssGrowth> {
  const atStartBytes = residentBytes(relay.relayPid);
  const halfwayCalls = Math.floor(totalCalls / 2);
  await runCalls(relay.client, specs, concurrency, { calls: halfwayCalls });
  const halfwayBytes = residentBytes(relay.relayPid);
  await runCalls(relay.client, specs, concurrency, { calls: totalCalls - halfwayCalls });
  const finalBytes = residentBytes(relay.relayPid);
  return { atStartBytes, halfwayCalls, halfwayBytes, finalCalls: totalCalls, finalBytes };
}
