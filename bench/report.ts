// Turns one backend's results into the tables the bench prints.

import type { RelayCpuLedger } from "./relay-cpu-ledger.js";
import { formatAddedMicroseconds, formatMebibytes, formatMicroseconds, formatPercent, formatTable } from "./format.js";
import type { KubeletLoadResult } from "./kubelet-run.js";
import { summarizeRss } from "./measure-rss.js";
import type { TelemetrySpans } from "./otlp-sink.js";
import { CPU_TICK_MICROSECONDS } from "./proc-stats.js";
import type { IdleGapRow, SuiteResult } from "./suite.js";
import type { RelayName, TargetName } from "./targets.js";
import { tracingCost, type TracingCost } from "./telemetry-cost.js";

export function relaysIn(result: SuiteResult): RelayName[] {
  return result.targetNames.filter((name): name is RelayName => name !== "direct");
}

export function suiteReport(result: SuiteResult): string[] {
  const relays = relaysIn(result);
  const lines: string[] = [];

  lines.push("latency per call (added = the relay's percentile minus direct's, measured in the same run)");
  lines.push(...latencyTable(result.latencyRows, relays));

  if (result.bigCallByteExact.size > 0) {
    const verdicts = [...result.bigCallByteExact].map(([name, exact]) => `${name} ${exact ? "yes" : "NO"}`);
    lines.push(`  ListContainers answer byte-identical to what the stub sent (sha256): ${verdicts.join(", ")}`);
  }

  lines.push("", "throughput, small calls (Version and ContainerStatus alternating), calls/s; relay as % of direct");
  const throughputRows = result.throughputRows.map((row) => {
    const direct = row.callsPerSecond.get("direct") ?? NaN;
    return [
      `c=${row.concurrency}`,
      String(Math.round(direct)),
      ...relays.map((relay) => {
        const relayed = row.callsPerSecond.get(relay) ?? NaN;
        return `${Math.round(relayed)} (${formatPercent(relayed / direct)})`;
      }),
    ];
  });
  lines.push(...formatTable([["concurrency", "direct", ...relays], ...throughputRows]));

  if (relays.length > 0) {
    lines.push("", "relay CPU per call (utime+stime of the relay process from /proc/<pid>/stat, over the phases above)");
    const bigLabel = result.latencyRows.find((row) => !row.isSmallCall)?.label;
    const cpuHeader = ["relay", "small, c=1", "small, concurrent", ...(bigLabel === undefined ? [] : [bigLabel])];
    const cpuRows = relays.map((relay) => [
      relay,
      cpuCell(result.relayCpu, relay, "small c=1"),
      cpuCell(result.relayCpu, relay, "small concurrent"),
      ...(bigLabel === undefined ? [] : [cpuCell(result.relayCpu, relay, "ListContainers")]),
    ]);
    lines.push(...formatTable([cpuHeader, ...cpuRows]));
  }

  const cost = tracingCost(result);
  if (cost !== undefined) lines.push("", ...tracingCostReport(cost));
  if (result.telemetrySpans !== undefined) lines.push(`  criscope+telemetry spans: ${describeSpans(result.telemetrySpans)}`);

  if (result.idleGapRows.length > 0) {
    lines.push("", "calls after idle gaps: one call at a time, each after its path sat idle for the gap; added as above");
    lines.push(...latencyTable(result.idleGapRows, relays));
  }

  if (result.rss.size > 0) {
    lines.push("", "relay memory (VmRSS) under steady small calls, sampled at even steps; slope from the second quarter's median to the last's");
    const rssRows = [...result.rss].map(([relay, run]) => {
      const summary = summarizeRss(run);
      return [
        relay,
        String(summary.calls),
        formatMebibytes(summary.atStartBytes),
        formatMebibytes(summary.secondQuarterMedianBytes),
        formatMebibytes(summary.lastQuarterMedianBytes),
        formatMebibytes(summary.finalBytes),
        `${formatGrowth(summary.lastQuarterMedianBytes / summary.secondQuarterMedianBytes - 1)} (${formatMebibytes(summary.slopeBytesPerCall * 100_000)} per 100k calls)`,
      ];
    });
    lines.push(...formatTable([["relay", "calls", "before", "2nd quarter", "last quarter", "final", "2nd → last quarter"], ...rssRows]));
  }
  return lines;
}

function latencyTable(rows: readonly IdleGapRow[], relays: readonly RelayName[]): string[] {
  const header = ["call", "samples", "direct p50", "direct p99", ...relays.flatMap((relay) => [`${relay} +p50`, `${relay} +p99`])];
  const cells = rows.map((row) => {
    const direct = row.byTarget.get("direct");
    const rowCells = [row.label, String(direct?.samples ?? 0), formatMicroseconds(direct?.p50 ?? NaN), formatMicroseconds(direct?.p99 ?? NaN)];
    for (const relay of relays) {
      const relayed = row.byTarget.get(relay);
      rowCells.push(formatAddedMicroseconds((relayed?.p50 ?? NaN) - (direct?.p50 ?? NaN)));
      rowCells.push(formatAddedMicroseconds((relayed?.p99 ?? NaN) - (direct?.p99 ?? NaN)));
    }
    return rowCells;
  });
  return formatTable([header, ...cells]);
}

/** The kubelet-shaped load: per call, the relay's latency minus direct's for the same call of the same burst. */
export function kubeletReport(kubelet: KubeletLoadResult, shapeOnly: boolean): string[] {
  const { summary, relays } = kubelet;
  const lines = [
    `kubelet-shaped load: ${summary.callsPerPath} calls per path (a start burst, then bursts about a second apart), ` +
      "added per call = the relay's latency minus direct's for the same call of the same burst",
  ];
  if (shapeOnly) lines.push("  (kubelet's shape only: the answers are whatever this runtime holds, not a busy node's sizes)");
  const header = ["call", "samples", "direct p50", "direct p99", ...relays.flatMap((relay) => [`${relay} +p50`, `+p90`, `+p99`, `+max`])];
  const rows = [...summary.byMethod, summary.startBurst, summary.allCalls].map((row) => {
    const first = row.added.get(relays[0] ?? "nghttpx");
    const cells = [row.label, String(first?.samples ?? 0), formatMicroseconds(row.directP50), formatMicroseconds(row.directP99)];
    for (const relay of relays) {
      const added = row.added.get(relay);
      cells.push(...[added?.p50, added?.p90, added?.p99, added?.max].map((value) => formatAddedMicroseconds(value ?? NaN)));
    }
    return cells;
  });
  lines.push(...formatTable([header, ...rows]));
  const cpu = relays.map((relay) => {
    const perCall = summary.cpuMicrosecondsPerCall.get(relay);
    return `${relay} ${perCall === undefined ? "n/a" : formatMicroseconds(perCall)}`;
  });
  const resolution = formatMicroseconds(CPU_TICK_MICROSECONDS / summary.callsPerPath);
  lines.push(`  relay CPU per call over the whole load, idle-time work included: ${cpu.join(", ")} (to within ${resolution}: /proc counts clock ticks)`);
  if (kubelet.telemetrySpans !== undefined) lines.push(`  criscope+telemetry spans: ${describeSpans(kubelet.telemetrySpans)}`);
  return lines;
}

function tracingCostReport(cost: TracingCost): string[] {
  const lines = ["tracing's cost: criscope+telemetry minus criscope (metrics are on in both), same run"];
  const latencyRows = cost.latency.map((row) => [row.label, formatAddedMicroseconds(row.addedP50), formatAddedMicroseconds(row.addedP99)]);
  lines.push(...formatTable([["call", "+p50", "+p99"], ...latencyRows]));
  const cpuCells = cost.cpu.map((row) => (row.addedPerCall === undefined ? "n/a" : formatAddedMicroseconds(row.addedPerCall)));
  const bucketNames = cost.cpu.map((row) => row.bucket);
  lines.push(...formatTable([["CPU per call", ...bucketNames], ["added", ...cpuCells]]));
  return lines;
}

/** Tracing's sanity check: one span per call, each in the trace its client's traceparent named. */
function describeSpans(spans: TelemetrySpans): string {
  const share = formatPercent(spans.spans / spans.callsMade);
  const shortfall = spans.spans < spans.callsMade ? ` (${spans.callsMade - spans.spans} missing: sampled out, dropped or never exported)` : "";
  return (
    `${spans.spans} received for ${spans.callsMade} calls made (${share})${shortfall}; ` +
    `${spans.spansInClientTraces} in the client's traces (traceparent taken); ${spans.exportCalls} exports`
  );
}

function cpuCell(ledger: RelayCpuLedger, relay: RelayName, bucket: Parameters<RelayCpuLedger["microsecondsPerCall"]>[1]): string {
  const perCall = ledger.microsecondsPerCall(relay, bucket);
  return perCall === undefined ? "n/a" : formatMicroseconds(perCall);
}

export function formatGrowth(fraction: number): string {
  return `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(1)}%`;
}

/** The relays' cost against direct as ratios, the numbers that carry across machines. */
export function headlines(result: SuiteResult, scope: string): string[] {
  return relaysIn(result).map((relay) => {
    const throughput = result.throughputRows
      .map((row) => `${formatPercent(ratio(row.callsPerSecond, relay))} at c=${row.concurrency}`)
      .join(", ");
    const latency = result.latencyRows
      .map((row) => {
        const direct = row.byTarget.get("direct")?.p50 ?? NaN;
        const relayed = row.byTarget.get(relay)?.p50 ?? NaN;
        return `${row.label} ${formatAddedMicroseconds(relayed - direct)} (×${(relayed / direct).toFixed(2)})`;
      })
      .join(", ");
    return `headline [${scope}] ${relay}: throughput ${throughput} of direct; p50 latency ${latency}`;
  });
}

/** Tracing's cost on its own line, next to the relays' headlines. */
export function tracingHeadline(result: SuiteResult, scope: string): string[] {
  const cost = tracingCost(result);
  if (cost === undefined) return [];
  const latency = cost.latency
    .filter((row) => row.isSmallCall)
    .map((row) => `${row.label} ${formatAddedMicroseconds(row.addedP50)}`)
    .join(", ");
  const cpu = cost.cpu
    .filter((row) => row.bucket !== "ListContainers")
    .map((row) => `${row.addedPerCall === undefined ? "n/a" : formatAddedMicroseconds(row.addedPerCall)} (${row.bucket})`)
    .join(", ");
  const spans = result.telemetrySpans === undefined ? "" : `; spans ${formatPercent(result.telemetrySpans.spans / result.telemetrySpans.callsMade)} of calls`;
  return [`headline [${scope}] tracing (criscope+telemetry vs criscope): p50 ${latency}; CPU per small call ${cpu}${spans}`];
}

function ratio(values: ReadonlyMap<TargetName, number>, relay: RelayName): number {
  return (values.get(relay) ?? NaN) / (values.get("direct") ?? NaN);
}
