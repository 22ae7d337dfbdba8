// A kubelet-shaped load: what a kubelet on a busy node sends. Right after the relay starts, before
// it has carried anything, the burst kubelet sends when it starts (Version, ListImages,
// ListContainers); then, about a second apart, bursts of concurrent relist and status calls (PLEG's
// ListPodSandbox and ListContainers, pod and container status, the stats provider's ImageFsInfo and
// ListContainerStats). Requests are the ones kubelet sends; answers stay undecoded so one big
// decode in the bench client can't hold up the timing of the calls beside it.

import { setTimeout as sleep } from "node:timers/promises";
import type { CallSpec } from "./call-specs.js";
import type { CriClient, CriServiceName } from "./cri-client.js";
import { cpuMicroseconds } from "./proc-stats.js";
import { rotated, type BenchTarget, type RelayName, type TargetName } from "./targets.js";

/** Status calls per steady burst: the pods and containers a sync touches between relists. */
const POD_STATUSES_PER_BURST = 3;
const CONTAINER_STATUSES_PER_BURST = 6;

export interface KubeletIds {
  readonly podIds: readonly string[];
  readonly containerIds: readonly string[];
}

export interface KubeletLoadShape {
  readonly startBurst: readonly CallSpec[];
  steadyBurst(index: number): readonly CallSpec[];
}

export function kubeletLoadShape(ids: KubeletIds): KubeletLoadShape {
  const call = (service: CriServiceName, method: string, request: object): CallSpec => ({
    label: method,
    invoke: (client: CriClient) => client.undecoded(service, method, request),
  });
  const pick = (list: readonly string[], index: number): string => list[index % list.length] ?? "";
  return {
    startBurst: [call("runtime", "Version", { version: "0.1.0" }), call("image", "ListImages", {}), call("runtime", "ListContainers", { filter: {} })],
    steadyBurst(index: number): CallSpec[] {
      return [
        call("runtime", "ListPodSandbox", {}),
        call("runtime", "ListContainers", { filter: {} }),
        ...Array.from({ length: POD_STATUSES_PER_BURST }, (_, slot) =>
          call("runtime", "PodSandboxStatus", { pod_sandbox_id: pick(ids.podIds, index * POD_STATUSES_PER_BURST + slot), verbose: false }),
        ),
        ...Array.from({ length: CONTAINER_STATUSES_PER_BURST }, (_, slot) =>
          call("runtime", "ContainerStatus", { container_id: pick(ids.containerIds, index * CONTAINER_STATUSES_PER_BURST + slot), verbose: false }),
        ),
        call("image", "ImageFsInfo", {}),
        call("runtime", "ListContainerStats", { filter: {} }),
      ];
    },
  };
}

export interface KubeletLoadPlan {
  /** Steady bursts per path, after the start burst. */
  readonly bursts: number;
  /** Each path's idle time before each of its steady bursts. */
  readonly gapSeconds: number;
}

export interface KubeletLoadRun {
  /** Call labels by burst and slot; burst 0 is the start burst. The same schedule ran on every path. */
  readonly labels: readonly (readonly string[])[];
  /** Per path, latency in µs by burst and slot. */
  readonly latencies: ReadonlyMap<TargetName, readonly (readonly number[])[]>;
  /** Each relay's CPU over the whole load (idle-time work such as span export included), per call. */
  readonly cpuMicrosecondsPerCall: ReadonlyMap<RelayName, number>;
}

/** Bursts sent straight to the runtime before the load, so the bench client's code and the runtime are warm. */
const DIRECT_WARMUP_BURSTS = 3;
/** Direct's start burst is timed this many times and each call's median kept: one sample would be all noise. */
const DIRECT_START_BURST_RUNS = 5;

/**
 * Each relay gets the start burst first, right after it started; then direct's baseline for it.
 * Then the paths take turns, spread evenly over each gap, so every path sits idle for a gap before
 * each burst and no two paths' bursts overlap. Beforehand, direct alone is warmed up: otherwise
 * the first calls would carry the bench client's and the runtime's cold start, not the relays'.
 */
export async function runKubeletLoad(targets: readonly BenchTarget[], shape: KubeletLoadShape, plan: KubeletLoadPlan): Promise<KubeletLoadRun> {
  const direct = targets.find((target) => target.name === "direct");
  if (direct === undefined) throw new Error("the kubelet-shaped load needs the direct path as its baseline");
  await timeBurst(direct.client, shape.startBurst);
  for (let index = 0; index < DIRECT_WARMUP_BURSTS; index++) await timeBurst(direct.client, shape.steadyBurst(index));

  const spacingMilliseconds = (plan.gapSeconds * 1000) / targets.length;
  const latencies = new Map<TargetName, number[][]>(targets.map((target) => [target.name, []]));
  const cpuAtStart = new Map(targets.map((target) => [target.name, target.relayPid === undefined ? 0 : cpuMicroseconds(target.relayPid)]));

  for (const relay of targets.filter((target) => target !== direct)) latencies.get(relay.name)?.push(await timeBurst(relay.client, shape.startBurst));
  const directStartRuns: number[][] = [];
  for (let run = 0; run < DIRECT_START_BURST_RUNS; run++) directStartRuns.push(await timeBurst(direct.client, shape.startBurst));
  latencies.get(direct.name)?.push(shape.startBurst.map((_, slot) => median(directStartRuns.map((timings) => timings[slot] ?? Number.NaN))));

  const steadyBursts = Array.from({ length: plan.bursts }, (_, index) => shape.steadyBurst(index));
  for (const [index, burst] of steadyBursts.entries()) {
    for (const target of rotated(targets, index)) {
      await sleep(spacingMilliseconds);
      latencies.get(target.name)?.push(await timeBurst(target.client, burst));
    }
  }

  const bursts = [shape.startBurst, ...steadyBursts];
  const callsPerPath = bursts.reduce((sum, burst) => sum + burst.length, 0);
  const cpuMicrosecondsPerCall = new Map<RelayName, number>();
  for (const target of targets) {
    if (target.relayPid === undefined || target.name === "direct") continue;
    await target.settle?.();
    cpuMicrosecondsPerCall.set(target.name, (cpuMicroseconds(target.relayPid) - (cpuAtStart.get(target.name) ?? 0)) / callsPerPath);
  }
  return { labels: bursts.map((burst) => burst.map((spec) => spec.label)), latencies, cpuMicrosecondsPerCall };
}

/** Every call of the burst starts at once, as kubelet's goroutines send them; each is timed on its own. */
async function timeBurst(client: CriClient, burst: readonly CallSpec[]): Promise<number[]> {
  return Promise.all(
    burst.map(async (spec) => {
      const started = process.hrtime.bigint();
      await spec.invoke(client);
      return Number(process.hrtime.bigint() - started) / 1000;
    }),
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
