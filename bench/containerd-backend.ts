// The real containerd started by scripts/test-runtime/up.sh, and the one pod and busybox
// container the bench creates in it so ContainerStatus asks about something real.

import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CriClient } from "./cri-client.js";

export interface TestRuntimeEnv {
  readonly socketPath: string;
  readonly busyboxImage: string;
}

/** Reads the KEY=VALUE file up.sh writes; undefined when there is no test containerd. */
export function readTestRuntimeEnv(envFile: string): TestRuntimeEnv | undefined {
  if (!existsSync(envFile)) return undefined;
  const values = new Map<string, string>();
  for (const line of readFileSync(envFile, "utf8").split("\n")) {
    const match = /^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], unquote(match[2].trim()));
  }
  const socket = values.get("CRISCOPE_TEST_CONTAINERD_SOCK");
  const busyboxImage = values.get("CRISCOPE_TEST_BUSYBOX_IMAGE");
  if (socket === undefined || busyboxImage === undefined) {
    throw new Error(`${envFile} lacks CRISCOPE_TEST_CONTAINERD_SOCK or CRISCOPE_TEST_BUSYBOX_IMAGE`);
  }
  return { socketPath: socket.replace(/^unix:\/\//, ""), busyboxImage };
}

function unquote(value: string): string {
  const quoted = /^(["'])(.*)\1$/.exec(value);
  return quoted?.[2] ?? value;
}

export interface BenchContainer {
  readonly podSandboxId: string;
  readonly containerId: string;
  /** Stops and removes the container and its pod; returns what could not be cleaned up. */
  remove(): Promise<string[]>;
}

interface RunPodSandboxResponse {
  readonly pod_sandbox_id: string;
}
interface CreateContainerResponse {
  readonly container_id: string;
}
interface ImageStatusResponse {
  readonly image?: object;
}

/** Marks the bench's pods, so a later run can clear what an interrupted one left behind. */
const BENCH_POD_LABELS = { "app.kubernetes.io/name": "criscope-bench" };

interface ListPodSandboxResponse {
  readonly items?: readonly { readonly id: string }[];
}

export async function createBenchContainer(client: CriClient, env: TestRuntimeEnv, workDir: string): Promise<BenchContainer> {
  await removeLeftoverBenchPods(client);
  const image = { image: env.busyboxImage };
  const status = await client.image<ImageStatusResponse>("ImageStatus", { image });
  if (status.image === undefined) await client.image("PullImage", { image });

  const logDirectory = join(workDir, "pod-logs");
  mkdirSync(logDirectory, { recursive: true });
  // Host network: no CNI needed, and the bench measures CRI calls, not pod networking.
  // (No hostname either: runc refuses one without a private UTS namespace.)
  const sandboxConfig = {
    metadata: { name: "criscope-bench", uid: randomUUID(), namespace: "criscope-bench", attempt: 0 },
    log_directory: logDirectory,
    labels: BENCH_POD_LABELS,
    linux: { security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } } },
  };
  const { pod_sandbox_id: podSandboxId } = await client.runtime<RunPodSandboxResponse>("RunPodSandbox", { config: sandboxConfig });
  const removePod = async (problems: string[]): Promise<void> => {
    await attempt(problems, "StopPodSandbox", () => client.runtime("StopPodSandbox", { pod_sandbox_id: podSandboxId }));
    await attempt(problems, "RemovePodSandbox", () => client.runtime("RemovePodSandbox", { pod_sandbox_id: podSandboxId }));
  };

  let containerId: string;
  try {
    const created = await client.runtime<CreateContainerResponse>("CreateContainer", {
      pod_sandbox_id: podSandboxId,
      sandbox_config: sandboxConfig,
      config: {
        metadata: { name: "sleeper", attempt: 0 },
        image,
        command: ["sleep", "3600"],
        log_path: "sleeper.log",
        linux: { security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } } },
      },
    });
    containerId = created.container_id;
    await client.runtime("StartContainer", { container_id: containerId });
  } catch (error) {
    await removePod([]);
    throw error;
  }

  return {
    podSandboxId,
    containerId,
    async remove(): Promise<string[]> {
      const problems: string[] = [];
      await attempt(problems, "StopContainer", () => client.runtime("StopContainer", { container_id: containerId, timeout: 0 }));
      await attempt(problems, "RemoveContainer", () => client.runtime("RemoveContainer", { container_id: containerId }));
      await removePod(problems);
      return problems;
    },
  };
}

/** RemovePodSandbox takes the pod's containers with it. */
async function removeLeftoverBenchPods(client: CriClient): Promise<void> {
  const leftovers = await client.runtime<ListPodSandboxResponse>("ListPodSandbox", { filter: { label_selector: BENCH_POD_LABELS } });
  for (const pod of leftovers.items ?? []) {
    await client.runtime("StopPodSandbox", { pod_sandbox_id: pod.id });
    await client.runtime("RemovePodSandbox", { pod_sandbox_id: pod.id });
  }
}

/** Cleanup goes on past a failed step, so one stuck container doesn't leave the pod behind. */
async function attempt(problems: string[], step: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    problems.push(`${step}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
