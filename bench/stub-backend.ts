// Starts bench/stub-process.js and waits for its ready line.

import { fileURLToPath } from "node:url";
import { spawnChild, type ChildHandle } from "./child-process.js";
import type { StubReadyLine } from "./stub-process.js";

const STUB_PROCESS_SCRIPT = fileURLToPath(new URL("./stub-process.js", import.meta.url));

export interface StubBackend extends StubReadyLine {
  readonly socketPath: string;
  readonly child: ChildHandle;
}

export async function startStubBackend(socketPath: string, protoPath: string, listContainersBytes: number): Promise<StubBackend> {
  const child = spawnChild("stub CRI server", process.execPath, [STUB_PROCESS_SCRIPT, socketPath, protoPath, String(listContainersBytes)]);
  const ready = await new Promise<StubReadyLine>((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString("utf8");
      const newline = buffered.indexOf("\n");
      if (newline < 0) return;
      child.process.stdout?.off("data", onData);
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as StubReadyLine);
      } catch (error) {
        reject(new Error(`stub CRI server printed ${buffered.slice(0, newline)}`, { cause: error }));
      }
    };
    child.process.stdout?.on("data", onData);
    child.process.once("exit", () => reject(new Error(`stub CRI server exited before serving:\n${child.outputTail()}`)));
  });
  return { ...ready, socketPath, child };
}
