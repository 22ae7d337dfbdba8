// Bench settings: every count comes from an env var so a quick or a thorough run needs no code change.
// CRISCOPE_BENCH_QUICK=1 lowers every count's default (explicit CRISCOPE_BENCH_* values still win),
// for checking the bench itself in a minute or two; its figures are too few to judge criscope by.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type BackendName = "stub" | "containerd";

export interface BenchConfig {
  readonly protoPath: string;
  /** criscope's entry point; the bench skips criscope (and says so) when it isn't built. */
  readonly criscopeMain: string;
  /** Extra args for both criscope paths (criscope and criscope+telemetry), e.g. --max-message-bytes. */
  readonly criscopeExtraArgs: readonly string[];
  /** NODE_OPTIONS for both criscope paths: what the shipped systemd unit gives criscope, so the bench measures it as deployed. */
  readonly criscopeNodeOptions: string;
  /** Written by scripts/test-runtime/up.sh; no file means no containerd backend. */
  readonly testRuntimeEnvFile: string;
  /** Which backends to measure (CRISCOPE_BENCH_BACKENDS, default "stub,containerd"). */
  readonly backends: ReadonlySet<BackendName>;
  readonly quick: boolean;
  readonly warmupCalls: number;
  readonly latencyRounds: number;
  readonly latencyBatch: number;
  readonly bigRounds: number;
  readonly bigBatch: number;
  readonly listContainersBytes: number;
  readonly throughputRounds: number;
  readonly throughputSeconds: number;
  readonly highConcurrency: number;
  readonly rssCalls: number;
  /** Calls per path and method, each after the path sat idle for idleGapSeconds. */
  readonly idleGapSamples: number;
  readonly idleGapSeconds: number;
  /** Bursts per path in the kubelet-shaped load, each after about kubeletGapSeconds of idleness. */
  readonly kubeletBursts: number;
  readonly kubeletGapSeconds: number;
}

/** Repo root, from this file's place in dist/bench/. */
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

type Counts = Pick<
  BenchConfig,
  | "warmupCalls"
  | "latencyRounds"
  | "latencyBatch"
  | "bigRounds"
  | "bigBatch"
  | "throughputRounds"
  | "throughputSeconds"
  | "rssCalls"
  | "idleGapSamples"
  | "kubeletBursts"
>;

const FULL_COUNTS: Counts = {
  warmupCalls: 2000,
  latencyRounds: 10,
  latencyBatch: 200,
  bigRounds: 10,
  bigBatch: 5,
  throughputRounds: 4,
  throughputSeconds: 1,
  rssCalls: 100_000,
  idleGapSamples: 40,
  kubeletBursts: 60,
};

const QUICK_COUNTS: Counts = {
  warmupCalls: 400,
  latencyRounds: 3,
  latencyBatch: 50,
  bigRounds: 3,
  bigBatch: 3,
  throughputRounds: 2,
  throughputSeconds: 0.5,
  rssCalls: 8_000,
  idleGapSamples: 6,
  kubeletBursts: 8,
};

export function readBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  const quick = isSet(env["CRISCOPE_BENCH_QUICK"]);
  const counts = quick ? QUICK_COUNTS : FULL_COUNTS;
  return {
    protoPath: env["CRISCOPE_BENCH_PROTO"] ?? `${REPO_ROOT}proto/runtime/v1/api.proto`,
    // The node build's script: what the single executable `criscope install` puts on a node runs.
    // tsc's output (dist/src/cli/main.js) behaves differently enough in memory to be worth measuring
    // apart (CRISCOPE_BENCH_MAIN), but it is not what operators run.
    criscopeMain: env["CRISCOPE_BENCH_MAIN"] ?? `${REPO_ROOT}dist/criscope.cjs`,
    criscopeExtraArgs: (env["CRISCOPE_BENCH_ARGS"] ?? "").split(/\s+/).filter((arg) => arg !== ""),
    criscopeNodeOptions: env["CRISCOPE_BENCH_NODE_OPTIONS"] ?? unitNodeOptions(`${REPO_ROOT}config/systemd/criscope.service`),
    testRuntimeEnvFile: env["CRISCOPE_TEST_ENV_FILE"] ?? "/run/criscope-test/env",
    backends: backendNames(env["CRISCOPE_BENCH_BACKENDS"] ?? "stub,containerd"),
    quick,
    warmupCalls: positiveInteger(env, "CRISCOPE_BENCH_WARMUP_CALLS", counts.warmupCalls),
    latencyRounds: positiveInteger(env, "CRISCOPE_BENCH_LATENCY_ROUNDS", counts.latencyRounds),
    latencyBatch: positiveInteger(env, "CRISCOPE_BENCH_LATENCY_BATCH", counts.latencyBatch),
    bigRounds: positiveInteger(env, "CRISCOPE_BENCH_BIG_ROUNDS", counts.bigRounds),
    bigBatch: positiveInteger(env, "CRISCOPE_BENCH_BIG_BATCH", counts.bigBatch),
    listContainersBytes: positiveInteger(env, "CRISCOPE_BENCH_LIST_BYTES", 4 * 1024 * 1024),
    throughputRounds: positiveInteger(env, "CRISCOPE_BENCH_THROUGHPUT_ROUNDS", counts.throughputRounds),
    throughputSeconds: positiveNumber(env, "CRISCOPE_BENCH_THROUGHPUT_SECONDS", counts.throughputSeconds),
    highConcurrency: positiveInteger(env, "CRISCOPE_BENCH_CONCURRENCY", 16),
    rssCalls: positiveInteger(env, "CRISCOPE_BENCH_RSS_CALLS", counts.rssCalls),
    idleGapSamples: positiveInteger(env, "CRISCOPE_BENCH_IDLE_SAMPLES", counts.idleGapSamples),
    idleGapSeconds: positiveNumber(env, "CRISCOPE_BENCH_IDLE_GAP_SECONDS", 0.4),
    kubeletBursts: positiveInteger(env, "CRISCOPE_BENCH_KUBELET_BURSTS", counts.kubeletBursts),
    kubeletGapSeconds: positiveNumber(env, "CRISCOPE_BENCH_KUBELET_GAP_SECONDS", 1),
  };
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

function backendNames(list: string): Set<BackendName> {
  const names = new Set<BackendName>();
  for (const name of list.split(",").map((item) => item.trim()).filter((item) => item !== "")) {
    if (name !== "stub" && name !== "containerd") throw new Error(`CRISCOPE_BENCH_BACKENDS: unknown backend ${name} (stub, containerd)`);
    names.add(name);
  }
  return names;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = positiveNumber(env, name, fallback);
  if (!Number.isInteger(value)) throw new Error(`${name} must be a whole number, got ${env[name]}`);
  return value;
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

/** One line a reader can use to rerun with the same settings. */
export function describeSettings(config: BenchConfig): string {
  return [
    ...(config.quick ? ["QUICK MODE (CRISCOPE_BENCH_QUICK): counts too small to judge criscope by"] : []),
    `warm-up ${config.warmupCalls} calls/path`,
    `latency ${config.latencyRounds}×${config.latencyBatch} calls/path/method`,
    `ListContainers ${config.bigRounds}×${config.bigBatch}`,
    `throughput ${config.throughputRounds}×${config.throughputSeconds} s/path/concurrency`,
    `RSS (stub) ${config.rssCalls} calls at c=${config.highConcurrency}`,
    `after idle gaps ${config.idleGapSamples} calls/path/method, ${config.idleGapSeconds} s apart`,
    `kubelet-shaped load ${config.kubeletBursts} bursts/path, ${config.kubeletGapSeconds} s apart`,
  ].join(", ");
}

/** The NODE_OPTIONS the systemd unit sets (`Environment=NODE_OPTIONS=…`), or "" when it sets none. */
function unitNodeOptions(unitPath: string): string {
  const line = /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(unitPath, "utf8"));
  return line === null ? "" : line[1].trim();
}
