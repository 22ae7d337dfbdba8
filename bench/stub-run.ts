// The stub backend: isolates the relays' own cost, and the only source of a ~4 MiB answer; then
// the kubelet-shaped load against a second stub that answers like a busy node's runtime.

import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import { benchBackend, withKubeletLoad, type BackendRun } from "./bench-backend.js";
import { listContainersSpec, smallCallSpecs } from "./call-specs.js";
import type { BenchConfig } from "./config.js";
import { formatMebibytes } from "./format.js";
import { kubeletNode, NODE_IMAGE_COUNT } from "./kubelet-node-answers.js";
import { benchKubeletLoad, type KubeletLoadOutcome } from "./kubelet-run.js";
import { errorText } from "./paths-under-test.js";
import { progress } from "./progress.js";
import { startKubeletStub, startStubBackend } from "./stub-backend.js";

export const STUB_SCOPE = "stub";

export async function benchAgainstStub(config: BenchConfig, services: CriServiceDefinitions, workDir: string): Promise<BackendRun> {
  progress("starting the stub CRI server");
  let stub;
  try {
    stub = await startStubBackend(join(workDir, "stub-runtime.sock"), config.protoPath, config.listContainersBytes);
  } catch (error) {
    return { scope: STUB_SCOPE, notes: [], failures: [`stub CRI server: ${errorText(error)}`] };
  }
  let run: BackendRun;
  try {
    const smallSpecs = smallCallSpecs(STUB_CONTAINER_ID);
    const bigSpec = listContainersSpec(`${formatMebibytes(stub.listContainersBytes)} (stub only)`);
    run = await benchBackend(STUB_SCOPE, config, services, stub.socketPath, join(workDir, "stub-paths"), {
      backendLabel: "stub",
      smallSpecs,
      bigCall: { spec: bigSpec, expectedSha256: stub.listContainersSha256 },
      idleGapSpecs: [bigSpec, ...smallSpecs.filter((spec) => spec.label === "Version")],
      measureRss: true,
    });
    const about = `stub CRI server in its own process; ListContainers answer ${stub.listContainersBytes} bytes, ${stub.listContainersCount} containers`;
    run = { ...run, notes: [about, ...run.notes] };
  } finally {
    await stub.child.stop();
  }
  return withKubeletLoad(run, await kubeletLoadAgainstStub(config, services, workDir), false);
}

async function kubeletLoadAgainstStub(config: BenchConfig, services: CriServiceDefinitions, workDir: string): Promise<KubeletLoadOutcome> {
  progress("starting the kubelet-node stub");
  let stub;
  try {
    stub = await startKubeletStub(join(workDir, "kubelet-stub.sock"), config.protoPath);
  } catch (error) {
    return { notes: [], failures: [`kubelet-node stub: ${errorText(error)}`] };
  }
  try {
    const node = kubeletNode();
    const ids = { podIds: node.pods.map((pod) => pod.id), containerIds: node.containers.map((container) => container.id) };
    const outcome = await benchKubeletLoad(STUB_SCOPE, config, services, stub.socketPath, join(workDir, "kubelet-paths"), ids);
    const sizes = Object.entries(stub.answerBytes)
      .map(([method, bytes]) => `${method} ${bytes} B`)
      .join(", ");
    const about = `a stub answering like a node with ${node.pods.length} pods, ${node.containers.length} containers, ${NODE_IMAGE_COUNT} images: ${sizes}`;
    return { ...outcome, notes: [about, ...outcome.notes] };
  } finally {
    await stub.child.stop();
  }
}

/** The stub answers any id; this one looks like containerd's. */
const STUB_CONTAINER_ID = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";
