// The bars criscope is held to. Reported, never asserted: a FAIL is a finding, not a crash.

import { formatMicroseconds, formatPercent } from "./format.js";
import { formatGrowth } from "./report.js";
import type { SuiteResult } from "./suite.js";
import type { CriscopeName, RelayName } from "./targets.js";
import { tracingCost, worstTracingAddedP50 } from "./telemetry-cost.js";

const MAX_ADDED_P50_MICROSECONDS = 250;
const MAX_CPU_MICROSECONDS_PER_SMALL_CALL = 120;
const MIN_THROUGHPUT_FRACTION = 0.75;
const MAX_RSS_GROWTH_FRACTION = 0.1;
const MAX_TRACING_ADDED_P50_MICROSECONDS = 30;

interface Check {
  readonly what: string;
  /** The criscope paths the figure comes from; it is NOT MEASURED unless all of them ran. */
  readonly from: readonly CriscopeName[];
  readonly criscope: number | undefined;
  /** The yardstick's figure against the same bar, for scale; absent where it has no meaning. */
  readonly nghttpx?: number | undefined;
  readonly show: (value: number) => string;
  readonly passes: (value: number) => boolean;
  /** The bar as read after the value, e.g. "< 250 µs" or ">= 250 µs". */
  readonly bar: (passed: boolean) => string;
}

export function verdictLines(result: SuiteResult, scope: string): string[] {
  const checks: Check[] = [
    {
      what: "added p50 small calls (worst of Version, ContainerStatus)",
      from: ["criscope"],
      criscope: worstAddedP50(result, "criscope"),
      nghttpx: worstAddedP50(result, "nghttpx"),
      show: formatMicroseconds,
      passes: (value) => value < MAX_ADDED_P50_MICROSECONDS,
      bar: (passed) => `${passed ? "<" : ">="} ${MAX_ADDED_P50_MICROSECONDS} µs`,
    },
    {
      what: "CPU per small call (worst of c=1, concurrent)",
      from: ["criscope"],
      criscope: worstCpuPerSmallCall(result, "criscope"),
      nghttpx: worstCpuPerSmallCall(result, "nghttpx"),
      show: formatMicroseconds,
      passes: (value) => value < MAX_CPU_MICROSECONDS_PER_SMALL_CALL,
      bar: (passed) => `${passed ? "<" : ">="} ${MAX_CPU_MICROSECONDS_PER_SMALL_CALL} µs`,
    },
  ];
  const highest = result.throughputRows.at(-1);
  if (highest !== undefined) {
    checks.push({
      what: `throughput at c=${highest.concurrency}, share of direct`,
      from: ["criscope"],
      criscope: throughputFraction(highest.callsPerSecond, "criscope"),
      nghttpx: throughputFraction(highest.callsPerSecond, "nghttpx"),
      show: formatPercent,
      passes: (value) => value >= MIN_THROUGHPUT_FRACTION,
      bar: (passed) => `${passed ? ">=" : "<"} ${formatPercent(MIN_THROUGHPUT_FRACTION)}`,
    });
  }
  const rss = result.criscopeRss;
  if (rss !== undefined) {
    checks.push({
      what: `RSS growth from ${rss.halfwayCalls} to ${rss.finalCalls} calls`,
      from: ["criscope"],
      criscope: rss.finalBytes / rss.halfwayBytes - 1,
      show: formatGrowth,
      passes: (value) => Math.abs(value) <= MAX_RSS_GROWTH_FRACTION,
      bar: (passed) => `${passed ? "within" : "beyond"} ${formatPercent(MAX_RSS_GROWTH_FRACTION)}`,
    });
  }
  const tracing = tracingCost(result);
  checks.push({
    what: "tracing's added p50 per small call (criscope+telemetry minus criscope, worst of Version, ContainerStatus)",
    from: ["criscope", "criscope+telemetry"],
    criscope: tracing === undefined ? undefined : worstTracingAddedP50(tracing),
    show: formatMicroseconds,
    passes: (value) => value < MAX_TRACING_ADDED_P50_MICROSECONDS,
    bar: (passed) => `${passed ? "<" : ">="} ${MAX_TRACING_ADDED_P50_MICROSECONDS} µs`,
  });
  return checks.map((check) => verdictLine(scope, check, result));
}

function verdictLine(scope: string, check: Check, result: SuiteResult): string {
  const prefix = `verdict [${scope}]: criscope ${check.what}`;
  const missing = check.from.filter((name) => !result.targetNames.includes(name));
  if (missing.length > 0) return `${prefix}: NOT MEASURED (${missing.join(" and ")} did not run)`;
  if (check.criscope === undefined || !Number.isFinite(check.criscope)) return `${prefix}: NOT MEASURED`;
  const passed = check.passes(check.criscope);
  const reference = check.nghttpx === undefined || !Number.isFinite(check.nghttpx) ? "" : `   (nghttpx: ${check.show(check.nghttpx)})`;
  return `${prefix} ${check.show(check.criscope)} ${check.bar(passed)}: ${passed ? "PASS" : "FAIL"}${reference}`;
}

function worstAddedP50(result: SuiteResult, relay: RelayName): number | undefined {
  const added = result.latencyRows
    .filter((row) => row.isSmallCall)
    .map((row) => (row.byTarget.get(relay)?.p50 ?? NaN) - (row.byTarget.get("direct")?.p50 ?? NaN));
  return added.length === 0 ? undefined : Math.max(...added);
}

function worstCpuPerSmallCall(result: SuiteResult, relay: RelayName): number | undefined {
  const known = [result.relayCpu.microsecondsPerCall(relay, "small c=1"), result.relayCpu.microsecondsPerCall(relay, "small concurrent")].filter(
    (value): value is number => value !== undefined,
  );
  return known.length === 0 ? undefined : Math.max(...known);
}

function throughputFraction(callsPerSecond: ReadonlyMap<string, number>, relay: RelayName): number {
  return (callsPerSecond.get(relay) ?? NaN) / (callsPerSecond.get("direct") ?? NaN);
}
