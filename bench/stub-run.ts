// The stub backend: isolates the relays' own cost, and the only source of a ~4 MiB answer.

import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import { benchBackend, type BackendRun } from "./bench-backend.js";
import { listContainersSpec, smallCallSpecs } from "./call-specs.js";
import type { BenchConfig } from "./config.js";
import { formatMebibytes } from "./format.js";
import { errorText } from "./paths-under-test.js";
import { progress } from "./progress.js";
import { startStubBackend } from "./stub-backend.js";

export const STUB_SCOPE = "stub";

export async function benchAgainstStub(config: BenchConfig, services: CriServiceDefinitions, workDir: string): Promise<BackendRun> {
  progress("starting the stub CRI server");
  let stub;
  try {
    stub = await startStubBackend(join(workDir, "stub-runtime.sock"), config.protoPath, config.listContainersBytes);
  } catch (error) {
    return { scope: STUB_SCOPE, notes: [], failures: [`stub CRI server: ${errorText(error)}`] };
  }
  try {
    const run = await benchBackend(STUB_SCOPE, config, services, stub.socketPath, join(workDir, "stub-paths"), {
      backendLabel: "stub",
      smallSpecs: smallCallSpecs(STUB_CONTAINER_ID),
      bigCall: { spec: listContainersSpec(`${formatMebibytes(stub.listContainersBytes)} (stub only)`), expectedSha256: stub.listContainersSha256 },
      measureCriscopeRss: true,
    });
    const about = `stub CRI server in its own process; ListContainers answer ${stub.listContainersBytes} bytes, ${stub.listContainersCount} containers`;
    return { ...run, notes: [about, ...run.notes] };
  } finally {
    await stub.child.stop();
  }
}

/** The stub answers any id; this one looks like containerd's. */
const STUB_CONTAINER_ID = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";
