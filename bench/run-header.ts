// The header of a bench report: what ran, on what machine, how busy it was, so a committed result
// (bench/results/<date>.md) can be read and compared later.

import { execFileSync } from "node:child_process";
import { availableParallelism, cpus, loadavg, release } from "node:os";
import { relative } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import type { BenchConfig } from "./config.js";
import { describeSettings } from "./config.js";
import { readTestRuntimeEnv } from "./containerd-backend.js";
import { CriClient } from "./cri-client.js";
import { nghttpxVersion } from "./nghttpx-relay.js";
import { errorText } from "./paths-under-test.js";

interface VersionResponse {
  readonly runtime_name?: string;
  readonly runtime_version?: string;
}

/** Other work on the machine skews every path; the load average says how busy it was. */
export function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
}

export async function runHeader(config: BenchConfig, services: CriServiceDefinitions): Promise<string[]> {
  return [
    `# criscope bench, ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    "",
    `- commit: ${commitDescription()}`,
    `- machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? "unknown model"}), Linux ${release()}`,
    `- load average at start: ${loadAverage()} (1, 5, 15 min)`,
    `- node ${process.version}; ${nghttpxVersion() ?? "nghttpx not installed"}; containerd: ${await containerdVersion(config, services)}`,
    `- criscope: ${relative(process.cwd(), config.criscopeMain) || config.criscopeMain} (CRISCOPE_BENCH_MAIN; by default the node build, whose script the single executable runs)`,
    `- criscope extra args (both criscope paths): ${config.criscopeExtraArgs.length === 0 ? "(none)" : config.criscopeExtraArgs.join(" ")}`,
    `- criscope NODE_OPTIONS (both criscope paths; the systemd unit's unless CRISCOPE_BENCH_NODE_OPTIONS is set): ${config.criscopeNodeOptions === "" ? "(none)" : config.criscopeNodeOptions}`,
    "- every call carries a fresh W3C traceparent, on every path; criscope+telemetry also has a config turning tracing on (every call traced)",
    `- settings: ${describeSettings(config)}`,
  ];
}

function commitDescription(): string {
  try {
    const run = (args: readonly string[]): string => execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const commit = run(["rev-parse", "--short", "HEAD"]);
    const dirty = run(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return `${commit}${dirty ? " with uncommitted changes" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

/** What the test containerd says of itself over CRI, the version the bench actually measures. */
async function containerdVersion(config: BenchConfig, services: CriServiceDefinitions): Promise<string> {
  if (!config.backends.has("containerd")) return "not measured (CRISCOPE_BENCH_BACKENDS leaves it out)";
  let runtime;
  try {
    runtime = readTestRuntimeEnv(config.testRuntimeEnvFile);
  } catch (error) {
    return `unknown (${errorText(error)})`;
  }
  if (runtime === undefined) return `not measured (no ${config.testRuntimeEnvFile})`;
  const client = new CriClient(runtime.socketPath, services);
  try {
    await client.waitForReady(5000);
    const version = await client.runtime<VersionResponse>("Version", { version: "v1" });
    return `${version.runtime_name ?? "?"} ${version.runtime_version ?? "?"}`;
  } catch (error) {
    return `unknown (${errorText(error)})`;
  } finally {
    client.close();
  }
}
