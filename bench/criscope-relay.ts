// criscope itself, started the way an operator would, ready once /healthz says so.

import { existsSync, writeFileSync } from "node:fs";
import { spawnChild, waitUntilReady } from "./child-process.js";
import { freeLoopbackPort, httpAnswers200 } from "./readiness-probes.js";
import type { RunningRelay } from "./relay.js";
import type { CriscopeName } from "./targets.js";

export async function startCriscope(
  name: CriscopeName,
  criscopeMain: string,
  extraArgs: readonly string[],
  nodeOptions: string,
  listenSocket: string,
  runtimeSocket: string,
): Promise<RunningRelay & { readonly metricsPort: number }> {
  const port = await freeLoopbackPort();
  const args = [
    criscopeMain,
    "serve",
    "--listen",
    `unix://${listenSocket}`,
    "--runtime-endpoint",
    `unix://${runtimeSocket}`,
    "--http-listen",
    `127.0.0.1:${port}`,
    "--log-level",
    "warn",
    // Each path's own admin socket: the paths share a directory.
    "--admin-socket",
    `${listenSocket}.admin`,
    ...extraArgs,
  ];
  const child = spawnChild(name, process.execPath, args, { ...withoutOtelVariables(process.env), NODE_OPTIONS: nodeOptions });
  await waitUntilReady(
    child,
    `200 from /healthz on port ${port} and a socket at ${listenSocket}`,
    async () => existsSync(listenSocket) && (await httpAnswers200(`http://127.0.0.1:${port}/healthz`)),
  );
  return { name, socketPath: listenSocket, child, metricsPort: port };
}

/** criscope falls back to the standard OTEL_* variables; only its config may turn tracing on here. */
function withoutOtelVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith("OTEL_")));
}

/** criscope+telemetry's config file: every call traced, spans sent over plain gRPC to `otlpEndpoint`. */
export function writeTracingConfig(path: string, otlpEndpoint: string): void {
  const yaml = ["tracing:", "  enabled: true", `  endpoint: ${otlpEndpoint}`, "  insecure: true", "  samplingRatio: 1", ""].join("\n");
  writeFileSync(path, yaml);
}
