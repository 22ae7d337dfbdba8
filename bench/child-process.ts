// Starting and stopping the processes the bench measures, and never leaving one behind.

import { spawn, type ChildProcess } from "node:child_process";

const OUTPUT_TAIL_CHARS = 4000;
const running = new Set<ChildProcess>();

// Whatever way the bench ends, its children end with it. A signal would skip "exit", so turn it into one.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  hasExited(): boolean;
  /** The last lines it printed, to explain a failure. */
  outputTail(): string;
  stop(): Promise<void>;
}

export function spawnChild(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildHandle {
  const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  running.add(child);
  let tail = "";
  const keepTail = (chunk: Buffer): void => {
    tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on("data", keepTail);
  child.stderr.on("data", keepTail);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });
  child.once("error", (error) => keepTail(Buffer.from(`\n${name}: ${error.message}\n`)));
  const pid = child.pid;
  return {
    name,
    pid,
    process: child,
    hasExited: () => exited,
    outputTail: () => tail.trim(),
    async stop(): Promise<void> {
      if (exited) return;
      child.kill("SIGTERM");
      const killLater = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exit;
      clearTimeout(killLater);
    },
  };
}

/** Polls `isReady` until it holds; fails early, with the child's output, if the child dies. */
export async function waitUntilReady(child: ChildHandle, what: string, isReady: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.hasExited()) throw new Error(`${child.name} exited before ${what}:\n${child.outputTail()}`);
    if (await isReady()) return;
    if (Date.now() > deadline) throw new Error(`${child.name}: no ${what} after ${timeoutMs} ms:\n${child.outputTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
