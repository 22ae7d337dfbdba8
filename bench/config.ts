// Bench settings: every count comes from an env var so a quick or a thorough run needs no code change.

import { fileURLToPath } from "node:url";

export type BackendName = "stub" | "containerd";

export interface BenchConfig {
  readonly protoPath: string;
  /** criscope's entry point; the bench skips criscope (and says so) when it isn't built. */
  readonly criscopeMain: string;
  /** Extra args for both criscope paths (criscope and criscope+telemetry), e.g. --max-message-bytes. */
  readonly criscopeExtraArgs: readonly string[];
  /** Written by scripts/test-runtime/up.sh; no file means no containerd backend. */
  readonly testRuntimeEnvFile: string;
  /** Which backends to measure (CRISCOPE_BENCH_BACKENDS, default "stub,containerd"). */
  readonly backends: ReadonlySet<BackendName>;
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
}

/** Repo root, from this file's place in dist/bench/. */
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function readBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  return {
    protoPath: env["CRISCOPE_BENCH_PROTO"] ?? `${REPO_ROOT}proto/runtime/v1/api.proto`,
    criscopeMain: env["CRISCOPE_BENCH_MAIN"] ?? `${REPO_ROOT}dist/src/cli/main.js`,
    criscopeExtraArgs: (env["CRISCOPE_BENCH_ARGS"] ?? "").split(/\s+/).filter((arg) => arg !== ""),
    testRuntimeEnvFile: env["CRISCOPE_TEST_ENV_FILE"] ?? "/run/criscope-test/env",
    backends: backendNames(env["CRISCOPE_BENCH_BACKENDS"] ?? "stub,containerd"),
    warmupCalls: positiveInteger(env, "CRISCOPE_BENCH_WARMUP_CALLS", 2000),
    latencyRounds: positiveInteger(env, "CRISCOPE_BENCH_LATENCY_ROUNDS", 10),
    latencyBatch: positiveInteger(env, "CRISCOPE_BENCH_LATENCY_BATCH", 200),
    bigRounds: positiveInteger(env, "CRISCOPE_BENCH_BIG_ROUNDS", 10),
    bigBatch: positiveInteger(env, "CRISCOPE_BENCH_BIG_BATCH", 5),
    listContainersBytes: positiveInteger(env, "CRISCOPE_BENCH_LIST_BYTES", 4 * 1024 * 1024),
    throughputRounds: positiveInteger(env, "CRISCOPE_BENCH_THROUGHPUT_ROUNDS", 4),
    throughputSeconds: positiveNumber(env, "CRISCOPE_BENCH_THROUGHPUT_SECONDS", 1),
    highConcurrency: positiveInteger(env, "CRISCOPE_BENCH_CONCURRENCY", 16),
    rssCalls: positiveInteger(env, "CRISCOPE_BENCH_RSS_CALLS", 100_000),
  };
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
    `warm-up ${config.warmupCalls} calls/path`,
    `latency ${config.latencyRounds}×${config.latencyBatch} calls/path/method`,
    `ListContainers ${config.bigRounds}×${config.bigBatch}`,
    `throughput ${config.throughputRounds}×${config.throughputSeconds} s/path/concurrency`,
    `criscope RSS (stub) ${config.rssCalls} calls at c=${config.highConcurrency}`,
  ].join(", ");
}
