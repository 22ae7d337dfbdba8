// Starts the stub runtimes (bench/stub-process.js, bench/kubelet-stub-process.js) and waits for their ready lines.

import { fileURLToPath } from "node:url";
import { spawnChild, type ChildHandle } from "./child-process.js";
import type { KubeletStubReadyLine } from "./kubelet-stub-process.js";
import type { StubReadyLine } from "./stub-process.js";

const STUB_PROCESS_SCRIPT = fileURLToPath(new URL("./stub-process.js", import.meta.url));
const KUBELET_STUB_PROCESS_SCRIPT = fileURLToPath(new URL("./kubelet-stub-process.js", import.meta.url));

export type StubBackend<Ready> = Ready & {
  readonly socketPath: string;
  readonly child: ChildHandle;
};

export function startStubBackend(socketPath: string, protoPath: string, listContainersBytes: number): Promise<StubBackend<StubReadyLine>> {
  return startStubProcess<StubReadyLine>("stub CRI server", STUB_PROCESS_SCRIPT, [socketPath, protoPath, String(listContainersBytes)], socketPath);
}

/** The stub that answers like a busy node's runtime, for the kubelet-shaped load. */
export function startKubeletStub(socketPath: string, protoPath: string): Promise<StubBackend<KubeletStubReadyLine>> {
  return startStubProcess<KubeletStubReadyLine>("kubelet-node stub", KUBELET_STUB_PROCESS_SCRIPT, [socketPath, protoPath], socketPath);
}

async function startStubProcess<Ready>(name: string, script: string, args: readonly string[], socketPath: string): Promise<StubBackend<Ready>> {
  const child = spawnChild(name, process.execPath, [script, ...args]);
  const ready = await new Promise<Ready>((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString("utf8");
      const newline = buffered.indexOf("\n");
      if (newline < 0) return;
      child.process.stdout?.off("data", onData);
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as Ready);
      } catch (error) {
        reject(new Error(`${name} printed ${buffered.slice(0, newline)}`, { cause: error }));
      }
    };
    child.process.stdout?.on("data", onData);
    child.process.once("exit", () => reject(new Error(`${name} exited before serving:\n${child.outputTail()}`)));
  });
  return { ...ready, socketPath, child };
}
