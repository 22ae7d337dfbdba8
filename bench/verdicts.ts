// The issue's targets as verdicts: each figure of criscope's against its yardstick measured in the
// same run (nghttpx; for tracing, criscope without it). A FAIL makes the bench exit non-zero, and
// so does a figure that could not be measured: a target nobody checked has not been met.

import type { BackendRun } from "./bench-backend.js";
import { BARS } from "./bars.js";
import { formatAddedMicroseconds, formatMebibytes, formatMicroseconds } from "./format.js";
import type { AddedDistribution } from "./kubelet-load-summary.js";
import { summarizeRss } from "./measure-rss.js";
import type { CpuBucket } from "./relay-cpu-ledger.js";
import type { IdleGapRow, LatencyRow, SuiteResult } from "./suite.js";
import type { RelayName, TargetName } from "./targets.js";

export interface Verdict {
  readonly passed: boolean;
  readonly line: string;
}

interface Side {
  readonly label: string;
  readonly value: number | undefined;
}

interface Target {
  /** As printed after "target", e.g. "≤ 1.25x nghttpx". */
  readonly text: string;
  /** False where the reference only gives scale (an absolute bar): then it may be missing. */
  readonly needsReference: boolean;
  passes(subject: number, reference: number): boolean;
}

interface Check {
  readonly figure: string;
  readonly subject: Side;
  readonly reference: Side;
  readonly show: (value: number) => string;
  readonly target: Target;
}

/** "At most 25% worse": on a negative reference (an added latency lost in noise) a plain product would demand more than the reference itself. */
const atMostTimes = (factor: number, of: string): Target => ({
  text: `≤ ${factor}x ${of}`,
  needsReference: true,
  passes: (subject, reference) => subject <= reference + (factor - 1) * Math.abs(reference),
});
const atLeastTimes = (factor: number, of: string): Target => ({
  text: factor === 1 ? `≥ ${of}` : `≥ ${factor}x ${of}`,
  needsReference: true,
  passes: (subject, reference) => subject >= factor * reference,
});
const atMostPlusShare = (share: number, of: string): Target => ({
  text: `≤ ${of} + ${Math.round(share * 100)}%`,
  needsReference: true,
  passes: (subject, reference) => subject <= reference + share * Math.abs(reference),
});
const atMostPlusMicroseconds = (microseconds: number, of: string): Target => ({
  text: `≤ ${of} + ${microseconds >= 1000 ? `${microseconds / 1000} ms` : `${microseconds} µs`}`,
  needsReference: true,
  passes: (subject, reference) => subject <= reference + microseconds,
});
const atMostAbsolute = (limit: number, show: (value: number) => string): Target => ({
  text: `≤ ${show(limit)}`,
  needsReference: false,
  passes: (subject) => subject <= limit,
});

export function verdicts(run: BackendRun): Verdict[] {
  const checks = [...(run.result === undefined ? [] : suiteChecks(run.result)), ...kubeletChecks(run)];
  return checks.map((check) => judge(run.scope, check));
}

function suiteChecks(result: SuiteResult): Check[] {
  const cpu = (name: RelayName, bucket: CpuBucket): Side => ({ label: name, value: result.relayCpu.microsecondsPerCall(name, bucket) });
  const concurrent = `c=${result.throughputRows.at(-1)?.concurrency ?? "concurrent"}`;
  const checks: Check[] = [
    {
      figure: "CPU per small call, c=1",
      subject: cpu("criscope", "small c=1"),
      reference: cpu("nghttpx", "small c=1"),
      show: formatMicroseconds,
      target: atMostTimes(BARS.cpuPerSmallCallTimesNghttpx, "nghttpx"),
    },
    {
      figure: `CPU per small call, ${concurrent}`,
      subject: cpu("criscope", "small concurrent"),
      reference: cpu("nghttpx", "small concurrent"),
      show: formatMicroseconds,
      target: atMostTimes(BARS.cpuPerSmallCallTimesNghttpx, "nghttpx"),
    },
  ];
  const bigRow = result.latencyRows.find((row) => !row.isSmallCall);
  if (bigRow !== undefined) {
    checks.push({
      figure: `CPU per ${bigRow.label}`,
      subject: cpu("criscope", "ListContainers"),
      reference: cpu("nghttpx", "ListContainers"),
      show: formatMicroseconds,
      target: atMostTimes(BARS.cpuPerBigListTimesNghttpx, "nghttpx"),
    });
  }

  const worstSmall = worstSmallCall(result.latencyRows);
  checks.push({
    figure: `added p50, small calls (worst: ${worstSmall?.label ?? "none"})`,
    subject: { label: "criscope", value: worstSmall === undefined ? undefined : addedP50(worstSmall, "criscope") },
    reference: { label: "nghttpx", value: worstSmall === undefined ? undefined : addedP50(worstSmall, "nghttpx") },
    show: formatAddedMicroseconds,
    target: atMostPlusShare(BARS.smallAddedP50OverNghttpxFraction, "nghttpx"),
  });
  if (bigRow !== undefined) {
    checks.push({
      figure: `added p50, ${bigRow.label}`,
      subject: { label: "criscope", value: addedP50(bigRow, "criscope") },
      reference: { label: "nghttpx", value: addedP50(bigRow, "nghttpx") },
      show: formatAddedMicroseconds,
      target: atMostPlusMicroseconds(BARS.bigAddedP50OverNghttpxMicroseconds, "nghttpx"),
    });
  }

  const highest = result.throughputRows.at(-1);
  checks.push({
    figure: `throughput at c=${highest?.concurrency ?? "?"}`,
    subject: { label: "criscope", value: highest?.callsPerSecond.get("criscope") },
    reference: { label: "nghttpx", value: highest?.callsPerSecond.get("nghttpx") },
    show: (value) => `${Math.round(value)} calls/s`,
    target: atLeastTimes(BARS.throughputTimesNghttpx, "nghttpx"),
  });

  for (const [bucket, shown] of [["small c=1", "c=1"], ["small concurrent", concurrent]] as const) {
    checks.push({
      figure: `tracing on (every call traced), CPU per small call, ${shown}`,
      subject: cpu("criscope+telemetry", bucket),
      reference: cpu("criscope", bucket),
      show: formatMicroseconds,
      target: atMostTimes(BARS.tracingCpuTimesUntraced, "criscope"),
    });
  }

  checks.push(...rssChecks(result));

  for (const row of result.idleGapRows) {
    checks.push({
      figure: `added p50 after idle gaps, ${row.label}`,
      subject: { label: "criscope", value: addedP50(row, "criscope") },
      reference: { label: "nghttpx", value: addedP50(row, "nghttpx") },
      show: formatAddedMicroseconds,
      target: atMostTimes(BARS.idleGapAddedP50TimesNghttpx, "nghttpx"),
    });
  }
  return checks;
}

function rssChecks(result: SuiteResult): Check[] {
  const criscopeRun = result.rss.get("criscope");
  if (result.rss.size === 0) return [];
  const criscope = criscopeRun === undefined ? undefined : summarizeRss(criscopeRun);
  const nghttpxRun = result.rss.get("nghttpx");
  const nghttpx = nghttpxRun === undefined ? undefined : summarizeRss(nghttpxRun);
  const calls = criscope?.calls ?? nghttpx?.calls ?? 0;
  return [
    {
      figure: `RSS after ${calls} calls`,
      subject: { label: "criscope", value: criscope?.finalBytes },
      reference: { label: "nghttpx", value: nghttpx?.finalBytes },
      show: formatMebibytes,
      target: atMostAbsolute(BARS.rssMaxBytes, formatMebibytes),
    },
    {
      figure: `RSS flat over ${calls} calls (median of the last quarter of samples against the second)`,
      subject: { label: "criscope last quarter", value: criscope?.lastQuarterMedianBytes },
      reference: { label: "criscope second quarter", value: criscope?.secondQuarterMedianBytes },
      show: formatMebibytes,
      target: atMostTimes(1 + BARS.rssFlatMaxRise, "the second quarter"),
    },
  ];
}

function kubeletChecks(run: BackendRun): Check[] {
  if (run.result === undefined && run.kubelet === undefined) return [];
  const added = (relay: RelayName): AddedDistribution | undefined => run.kubelet?.summary.allCalls.added.get(relay);
  const shape = run.kubeletShapeOnly === true ? ", kubelet's shape only (containerd's own answers)" : "";
  return [
    {
      figure: `kubelet-shaped load, p99 added per call, start burst included${shape}`,
      subject: { label: "criscope (tracing on)", value: added("criscope+telemetry")?.p99 },
      reference: { label: "nghttpx", value: added("nghttpx")?.p99 },
      show: formatAddedMicroseconds,
      target: atMostPlusMicroseconds(BARS.kubeletAddedP99OverNghttpxMicroseconds, "nghttpx"),
    },
  ];
}

function judge(scope: string, check: Check): Verdict {
  const { subject, reference, target } = check;
  const prefix = `[${scope}] ${check.figure}`;
  const known = (side: Side): side is { readonly label: string; readonly value: number } => side.value !== undefined && Number.isFinite(side.value);
  const missing = [subject, ...(target.needsReference ? [reference] : [])].filter((side) => !known(side)).map((side) => side.label);
  if (!known(subject) || missing.length > 0) {
    return { passed: false, line: `FAIL  ${prefix}: not measured (no figure for ${missing.join(" or ")}), target ${target.text}` };
  }
  const referenceValue = known(reference) ? reference.value : Number.NaN;
  const passed = target.passes(subject.value, referenceValue);
  const ratio = referenceValue > 0 ? (subject.value / referenceValue).toFixed(2) : "n/a";
  const referenceText = known(reference) ? check.show(reference.value) : "n/a";
  return {
    passed,
    line:
      `${passed ? "PASS" : "FAIL"}  ${prefix}: ${subject.label} ${check.show(subject.value)} vs ${reference.label} ${referenceText} ` +
      `(ratio ${ratio}, target ${target.text})`,
  };
}

function addedP50(row: IdleGapRow, relay: TargetName): number | undefined {
  const relayed = row.byTarget.get(relay)?.p50;
  const direct = row.byTarget.get("direct")?.p50;
  return relayed === undefined || direct === undefined ? undefined : relayed - direct;
}

/** The small call furthest over its bar: criscope's added p50 beyond nghttpx's plus the allowed share. */
function worstSmallCall(rows: readonly LatencyRow[]): LatencyRow | undefined {
  const margin = (row: LatencyRow): number => {
    const criscope = addedP50(row, "criscope") ?? Number.NaN;
    const nghttpx = addedP50(row, "nghttpx") ?? Number.NaN;
    return criscope - (nghttpx + BARS.smallAddedP50OverNghttpxFraction * Math.abs(nghttpx));
  };
  const small = rows.filter((row) => row.isSmallCall);
  return small.reduce<LatencyRow | undefined>((worst, row) => (worst === undefined || !(margin(worst) >= margin(row)) ? row : worst), undefined);
}
