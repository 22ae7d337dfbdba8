import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { BackendRun } from '../../bench/bench-backend.js';
import type { KubeletLoadRun } from '../../bench/kubelet-load.js';
import { summarizeKubeletLoad } from '../../bench/kubelet-load-summary.js';
import type { LatencySummary } from '../../bench/latency-stats.js';
import type { RssRun } from '../../bench/measure-rss.js';
import { RelayCpuLedger } from '../../bench/relay-cpu-ledger.js';
import type { SuiteResult } from '../../bench/suite.js';
import type { RelayName, TargetName } from '../../bench/targets.js';
import { verdicts } from '../../bench/verdicts.js';

const MIB = 1024 * 1024;

interface Figures {
  /** CPU µs per small call (both buckets) and per big ListContainers, per relay. */
  readonly cpuSmall: Partial<Record<RelayName, number>>;
  readonly cpuBig: Partial<Record<RelayName, number>>;
  /** p50 latency µs of the small call, the big call and the calls after idle gaps, per path. */
  readonly smallP50: Partial<Record<TargetName, number>>;
  readonly bigP50: Partial<Record<TargetName, number>>;
  readonly idleP50: Partial<Record<TargetName, number>>;
  readonly throughput: Partial<Record<TargetName, number>>;
  /** criscope's RSS samples, in MiB. */
  readonly rssMebibytes: readonly number[];
  /** Kubelet-shaped load: per path, latency µs by burst and slot (burst 0 is the start burst). */
  readonly kubelet: Partial<Record<TargetName, number[][]>>;
}

const STEADY_KUBELET_BURSTS = 20;
const steadyBursts = (microseconds: number): number[][] => Array.from({ length: STEADY_KUBELET_BURSTS }, () => [microseconds, microseconds]);

/** A run in which criscope meets every target. */
const PASSING: Figures = {
  cpuSmall: { criscope: 60, 'criscope+telemetry': 70, nghttpx: 50 },
  cpuBig: { criscope: 6000, 'criscope+telemetry': 6500, nghttpx: 5000 },
  smallP50: { direct: 100, criscope: 150, 'criscope+telemetry': 160, nghttpx: 150 },
  bigP50: { direct: 10_000, criscope: 12_000, 'criscope+telemetry': 12_100, nghttpx: 11_000 },
  idleP50: { direct: 100, criscope: 160, 'criscope+telemetry': 170, nghttpx: 150 },
  throughput: { direct: 10_000, criscope: 9000, 'criscope+telemetry': 8000, nghttpx: 8500 },
  rssMebibytes: Array.from({ length: 40 }, () => 60),
  kubelet: {
    direct: [[1000, 1000, 1000], ...steadyBursts(1000)],
    'criscope+telemetry': [[1400, 1400, 1400], ...steadyBursts(1200)],
    nghttpx: [[1300, 1300, 1300], ...steadyBursts(1100)],
  },
};

function latencyRow(label: string, isSmallCall: boolean, p50: Partial<Record<TargetName, number>>): SuiteResult['latencyRows'][number] {
  const byTarget = new Map<TargetName, LatencySummary>();
  for (const [name, value] of Object.entries(p50) as [TargetName, number][]) byTarget.set(name, { p50: value, p99: value, samples: 100 });
  return { label, isSmallCall, byTarget };
}

function backendRun(figures: Figures): BackendRun {
  const ledger = new RelayCpuLedger();
  for (const [relay, perCall] of Object.entries(figures.cpuSmall) as [RelayName, number][]) {
    ledger.record(relay, 'small c=1', 1000, perCall * 1000);
    ledger.record(relay, 'small concurrent', 1000, perCall * 1000);
  }
  for (const [relay, perCall] of Object.entries(figures.cpuBig) as [RelayName, number][]) ledger.record(relay, 'ListContainers', 10, perCall * 10);
  const rssRun = (mebibytes: readonly number[]): RssRun => ({
    atStartBytes: 50 * MIB,
    samples: mebibytes.map((value, index) => ({ calls: (index + 1) * 2500, bytes: value * MIB })),
  });
  const targetNames = (Object.keys(figures.smallP50) as TargetName[]).filter((name) => name !== 'direct');
  const result: SuiteResult = {
    backendLabel: 'stub',
    targetNames: ['direct', ...targetNames],
    latencyRows: [latencyRow('Version', true, figures.smallP50), latencyRow('ListContainers 4.0 MiB', false, figures.bigP50)],
    throughputRows: [{ concurrency: 16, callsPerSecond: new Map(Object.entries(figures.throughput) as [TargetName, number][]) }],
    relayCpu: ledger,
    bigCallByteExact: new Map(),
    idleGapRows: [{ label: 'Version', byTarget: latencyRow('Version', true, figures.idleP50).byTarget }],
    rss: new Map([
      ['criscope', rssRun(figures.rssMebibytes)],
      ['nghttpx', rssRun(figures.rssMebibytes.map(() => 10))],
    ]),
  };
  const kubeletRun: KubeletLoadRun = {
    labels: [['Version', 'ListImages', 'ListContainers'], ...Array.from({ length: STEADY_KUBELET_BURSTS }, () => ['ListPodSandbox', 'ContainerStatus'])],
    latencies: new Map(Object.entries(figures.kubelet) as [TargetName, number[][]][]),
    cpuMicrosecondsPerCall: new Map(),
  };
  const relays = (Object.keys(figures.kubelet) as TargetName[]).filter((name): name is RelayName => name !== 'direct');
  return { scope: 'stub', result, kubelet: { relays, summary: summarizeKubeletLoad(kubeletRun) }, notes: [], failures: [] };
}

function lineAbout(lines: readonly string[], figure: string): string {
  const line = lines.find((candidate) => candidate.includes(figure));
  assert.ok(line !== undefined, `no verdict about ${figure} in:\n${lines.join('\n')}`);
  return line;
}

describe('bench verdicts', () => {
  it('states each target as one PASS line against nghttpx when criscope meets it', () => {
    const results = verdicts(backendRun(PASSING));
    const lines = results.map((verdict) => verdict.line);
    assert.ok(results.every((verdict) => verdict.passed), lines.join('\n'));
    for (const figure of [
      'CPU per small call, c=1',
      'CPU per small call, c=16',
      'CPU per ListContainers 4.0 MiB',
      'added p50, small calls',
      'added p50, ListContainers 4.0 MiB',
      'throughput at c=16',
      'tracing on (every call traced), CPU per small call, c=1',
      'tracing on (every call traced), CPU per small call, c=16',
      'RSS after 100000 calls',
      'RSS flat',
      'added p50 after idle gaps, Version',
      'kubelet-shaped load, p99 added per call',
    ]) {
      assert.match(lineAbout(lines, figure), /^PASS {2}\[stub\] .*: .* vs .* \(ratio [\d.]+, target .+\)$/);
    }
    assert.match(lineAbout(lines, 'CPU per small call, c=1'), /criscope 60 µs vs nghttpx 50 µs \(ratio 1\.20, target ≤ 1\.25x nghttpx\)/);
  });

  it('fails criscope at 1.3x nghttpx\'s CPU per small call', () => {
    const results = verdicts(backendRun({ ...PASSING, cpuSmall: { ...PASSING.cpuSmall, criscope: 65 } }));
    const failed = results.filter((verdict) => !verdict.passed).map((verdict) => verdict.line);
    assert.equal(failed.length, 2, failed.join('\n'));
    assert.match(lineAbout(failed, 'CPU per small call, c=1'), /^FAIL .*ratio 1\.30/);
  });

  it('fails a target whose yardstick did not run, as not measured', () => {
    const withoutNghttpx = (figures: Partial<Record<TargetName, number>>): Partial<Record<TargetName, number>> =>
      Object.fromEntries(Object.entries(figures).filter(([name]) => name !== 'nghttpx'));
    const results = verdicts(
      backendRun({ ...PASSING, cpuSmall: withoutNghttpx(PASSING.cpuSmall), throughput: withoutNghttpx(PASSING.throughput) }),
    );
    assert.match(lineAbout(results.map((verdict) => verdict.line), 'CPU per small call, c=1'), /^FAIL .*not measured \(no figure for nghttpx\)/);
  });

  it('judges an added latency lost in noise (negative) by how far criscope is from nghttpx, not by a product', () => {
    const noisy = { direct: 1000, criscope: 900, 'criscope+telemetry': 900, nghttpx: 880 };
    const lines = verdicts(backendRun({ ...PASSING, idleP50: noisy })).map((verdict) => verdict.line);
    assert.match(lineAbout(lines, 'added p50 after idle gaps'), /^PASS .*criscope -100 µs vs nghttpx -120 µs \(ratio n\/a/);
    const worse = verdicts(backendRun({ ...PASSING, idleP50: { ...noisy, criscope: 1100 } })).map((verdict) => verdict.line);
    assert.match(lineAbout(worse, 'added p50 after idle gaps'), /^FAIL/);
  });

  it('fails RSS that keeps growing, though it stays under 80 MiB', () => {
    const growing = Array.from({ length: 40 }, (_, index) => 40 + index * 0.5);
    const lines = verdicts(backendRun({ ...PASSING, rssMebibytes: growing })).map((verdict) => verdict.line);
    assert.match(lineAbout(lines, 'RSS after'), /^PASS/);
    assert.match(lineAbout(lines, 'RSS flat'), /^FAIL/);
  });

  it('counts a slow start burst in the kubelet-shaped load\'s p99 added per call', () => {
    const slowStart = { ...PASSING.kubelet, 'criscope+telemetry': [[9000, 9000, 9000], ...steadyBursts(1200)] };
    const run = backendRun({ ...PASSING, kubelet: slowStart });
    assert.equal(run.kubelet?.summary.startBurst.added.get('criscope+telemetry')?.max, 8000);
    assert.match(lineAbout(verdicts(run).map((verdict) => verdict.line), 'kubelet-shaped load'), /^FAIL .*criscope \(tracing on\) \+8000 µs vs nghttpx \+300 µs/);
  });
});
