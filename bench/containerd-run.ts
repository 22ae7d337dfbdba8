// The real containerd: what criscope adds in front of the runtime it will actually relay to.

import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import { benchBackend, withKubeletLoad, type BackendRun } from "./bench-backend.js";
import { listContainersSpec, smallCallSpecs } from "./call-specs.js";
import type { BenchConfig } from "./config.js";
import { createBenchContainer, readTestRuntimeEnv } from "./containerd-backend.js";
import { CriClient } from "./cri-client.js";
import { benchKubeletLoad } from "./kubelet-run.js";
import { errorText } from "./paths-under-test.js";
import { progress } from "./progress.js";

export const CONTAINERD_SCOPE = "containerd";

/** Undefined when there is no test containerd to measure (and that is not a failure). */
export async function benchAgainstContainerd(config: BenchConfig, services: CriServiceDefinitions, workDir: string): Promise<BackendRun | undefined> {
  let runtime;
  try {
    runtime = readTestRuntimeEnv(config.testRuntimeEnvFile);
  } catch (error) {
    return { scope: CONTAINERD_SCOPE, notes: [], failures: [errorText(error)] };
  }
  if (runtime === undefined) return undefined;

  progress(`creating a pod and a busybox container in containerd at ${runtime.socketPath}`);
  const setupClient = new CriClient(runtime.socketPath, services);
  try {
    await setupClient.waitForReady(10_000);
    const container = await createBenchContainer(setupClient, runtime, workDir);
    try {
      const smallSpecs = smallCallSpecs(container.containerId);
      const run = await benchBackend(CONTAINERD_SCOPE, config, services, runtime.socketPath, join(workDir, "containerd-paths"), {
        backendLabel: "containerd",
        smallSpecs,
        idleGapSpecs: [listContainersSpec("(containerd's)"), ...smallSpecs.filter((spec) => spec.label === "Version")],
        measureRss: false,
      });
      const ids = { podIds: [container.podSandboxId], containerIds: [container.containerId] };
      const kubelet = await benchKubeletLoad(CONTAINERD_SCOPE, config, services, runtime.socketPath, join(workDir, "containerd-kubelet-paths"), ids);
      const about = `containerd at ${runtime.socketPath}; ContainerStatus asks about a running busybox container`;
      const shapeOnly = "kubelet-shaped load: kubelet's shape only; the answers are whatever this containerd holds (the bench's one pod and container), not a busy node's sizes";
      return withKubeletLoad({ ...run, notes: [about, shapeOnly, ...run.notes] }, kubelet, true);
    } finally {
      progress("removing the bench container and pod");
      const problems = await container.remove();
      if (problems.length > 0) progress(`cleanup problems: ${problems.join("; ")}`);
    }
  } catch (error) {
    return { scope: CONTAINERD_SCOPE, notes: [], failures: [`containerd setup: ${errorText(error)}`] };
  } finally {
    setupClient.close();
  }
}
