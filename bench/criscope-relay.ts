// criscope itself, started the way an operator would, ready once /healthz says so.

import { existsSync } from "node:fs";
import { spawnChild, waitUntilReady } from "./child-process.js";
import { freeLoopbackPort, httpAnswers200 } from "./readiness-probes.js";
import type { RunningRelay } from "./relay.js";

export async function startCriscope(
  criscopeMain: string,
  extraArgs: readonly string[],
  listenSocket: string,
  runtimeSocket: string,
): Promise<RunningRelay> {
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
    ...extraArgs,
  ];
  const child = spawnChild("criscope", process.execPath, args);
  await waitUntilReady(
    child,
    `200 from /healthz on port ${port} and a socket at ${listenSocket}`,
    async () => existsSync(listenSocket) && (await httpAnswers200(`http://127.0.0.1:${port}/healthz`)),
  );
  return { name: "criscope", socketPath: listenSocket, child };
}
