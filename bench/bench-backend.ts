// Runs the suite against one backend through every available path, and always closes the paths.

import { mkdirSync } from "node:fs";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import type { BenchConfig } from "./config.js";
import type { KubeletLoadOutcome, KubeletLoadResult } from "./kubelet-run.js";
import { errorText, openPathsUnderTest } from "./paths-under-test.js";
import { runSuite, type SuitePlan, type SuiteResult } from "./suite.js";

export interface BackendRun {
  readonly scope: string;
  readonly result?: SuiteResult;
  readonly kubelet?: KubeletLoadResult;
  /** On containerd the answers are whatever it holds: the kubelet-shaped load has kubelet's shape, not a busy node's sizes. */
  readonly kubeletShapeOnly?: boolean;
  /** Context a reader needs: what was skipped and why, what the backend was. */
  readonly notes: readonly string[];
  /** Anything that crashed or failed to start: the bench exits non-zero when there are any. */
  readonly failures: readonly string[];
}

export async function benchBackend(
  scope: string,
  config: BenchConfig,
  services: CriServiceDefinitions,
  runtimeSocket: string,
  workDir: string,
  plan: Omit<SuitePlan, "targets" | "config">,
): Promise<BackendRun> {
  mkdirSync(workDir, { recursive: true });
  let paths;
  try {
    paths = await openPathsUnderTest(config, services, runtimeSocket, workDir);
  } catch (error) {
    return { scope, notes: [], failures: [`${scope}: paths did not become ready: ${errorText(error)}`] };
  }
  try {
    const suite = await runSuite({ ...plan, targets: paths.targets, config });
    const telemetrySpans = await paths.telemetrySpans();
    const result: SuiteResult = telemetrySpans === undefined ? suite : { ...suite, telemetrySpans };
    return { scope, result, notes: paths.notes, failures: [...paths.failures, ...paths.deadRelays()] };
  } catch (error) {
    return { scope, notes: paths.notes, failures: [...paths.failures, `${scope}: ${errorText(error)}`, ...paths.deadRelays()] };
  } finally {
    await paths.close();
  }
}

/** The backend's run with its kubelet-shaped load added. */
export function withKubeletLoad(run: BackendRun, outcome: KubeletLoadOutcome, shapeOnly: boolean): BackendRun {
  return {
    ...run,
    ...(outcome.result === undefined ? {} : { kubelet: outcome.result }),
    kubeletShapeOnly: shapeOnly,
    notes: [...run.notes, ...outcome.notes.map((note) => `kubelet-shaped load: ${note}`)],
    failures: [...run.failures, ...outcome.failures],
  };
}
