// The kubelet-shaped load against one runtime, through fresh relays (so its start burst is the
// first thing they carry): direct, criscope with every call traced, and nghttpx.

import { mkdirSync } from "node:fs";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import type { BenchConfig } from "./config.js";
import { kubeletLoadShape, runKubeletLoad, type KubeletIds } from "./kubelet-load.js";
import { summarizeKubeletLoad, type KubeletLoadSummary } from "./kubelet-load-summary.js";
import type { TelemetrySpans } from "./otlp-sink.js";
import { errorText, openPathsUnderTest } from "./paths-under-test.js";
import { progress } from "./progress.js";
import type { RelayName } from "./targets.js";

export interface KubeletLoadResult {
  readonly relays: readonly RelayName[];
  readonly summary: KubeletLoadSummary;
  readonly telemetrySpans?: TelemetrySpans;
}

export interface KubeletLoadOutcome {
  readonly result?: KubeletLoadResult;
  readonly notes: readonly string[];
  readonly failures: readonly string[];
}

/** Tracing on for the criscope path, as the target asks; criscope without tracing is measured elsewhere. */
const KUBELET_CRISCOPE_PATHS = new Set(["criscope+telemetry"] as const);

export async function benchKubeletLoad(
  scope: string,
  config: BenchConfig,
  services: CriServiceDefinitions,
  runtimeSocket: string,
  workDir: string,
  ids: KubeletIds,
): Promise<KubeletLoadOutcome> {
  mkdirSync(workDir, { recursive: true });
  let paths;
  try {
    paths = await openPathsUnderTest(config, services, runtimeSocket, workDir, KUBELET_CRISCOPE_PATHS);
  } catch (error) {
    return { notes: [], failures: [`${scope} kubelet-shaped load: paths did not become ready: ${errorText(error)}`] };
  }
  try {
    progress(`${scope}: kubelet-shaped load, a start burst then ${config.kubeletBursts} bursts ${config.kubeletGapSeconds} s apart per path`);
    const run = await runKubeletLoad(paths.targets, kubeletLoadShape(ids), { bursts: config.kubeletBursts, gapSeconds: config.kubeletGapSeconds });
    const telemetrySpans = await paths.telemetrySpans();
    const relays = paths.targets.map((target) => target.name).filter((name): name is RelayName => name !== "direct");
    const result: KubeletLoadResult = { relays, summary: summarizeKubeletLoad(run), ...(telemetrySpans === undefined ? {} : { telemetrySpans }) };
    return { result, notes: paths.notes, failures: [...paths.failures, ...paths.deadRelays()] };
  } catch (error) {
    return { notes: paths.notes, failures: [...paths.failures, `${scope} kubelet-shaped load: ${errorText(error)}`, ...paths.deadRelays()] };
  } finally {
    await paths.close();
  }
}
