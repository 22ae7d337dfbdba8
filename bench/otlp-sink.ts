// Starts bench/otlp-sink-process.js and talks to it: how many spans have arrived, and waiting for
// the spans criscope+telemetry still owes, so the CPU it spends exporting them is charged to the
// phase whose calls made them rather than to whatever runs next.

import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { spawnChild, type ChildHandle } from "./child-process.js";
import type { SinkReadyLine, SpanTally } from "./otlp-sink-process.js";

const SINK_PROCESS_SCRIPT = fileURLToPath(new URL("./otlp-sink-process.js", import.meta.url));

/** Past criscope's default export delay (1 s) plus an export: no new span for this long means no more are coming. */
const QUIET_MILLISECONDS = 2500;
const POLL_MILLISECONDS = 20;

/** What criscope+telemetry delivered against the calls the bench made through it. */
export interface TelemetrySpans extends SpanTally {
  readonly callsMade: number;
}

export interface OtlpSink {
  /** The URL criscope's tracing.endpoint takes. */
  readonly endpoint: string;
  readonly child: ChildHandle;
  tally(): Promise<SpanTally>;
  /** Resolves once `expectedSpans` have arrived, or none has for a while (a shortfall shows in the tally). */
  settle(expectedSpans: number): Promise<SpanTally>;
}

export async function startOtlpSink(clientTraceIdPrefix: string): Promise<OtlpSink> {
  const child = spawnChild("OTLP sink", process.execPath, [SINK_PROCESS_SCRIPT, clientTraceIdPrefix]);
  const { stdin, stdout } = child.process;
  if (stdin === null || stdout === null) throw new Error("OTLP sink: no stdio pipes");

  // The child answers requests in order, one line each.
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  createInterface({ input: stdout }).on("line", (line) => waiting.shift()?.resolve(line));
  child.process.once("exit", () => {
    for (const waiter of waiting.splice(0)) waiter.reject(new Error(`OTLP sink exited:\n${child.outputTail()}`));
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      if (child.hasExited()) reject(new Error(`OTLP sink exited:\n${child.outputTail()}`));
      else waiting.push({ resolve, reject });
    });

  let ready: SinkReadyLine;
  try {
    ready = JSON.parse(await nextLine()) as SinkReadyLine;
  } catch (error) {
    await child.stop();
    throw error;
  }

  const tally = async (): Promise<SpanTally> => {
    const answer = nextLine();
    stdin.write("\n");
    return JSON.parse(await answer) as SpanTally;
  };
  return {
    endpoint: ready.endpoint,
    child,
    tally,
    async settle(expectedSpans: number): Promise<SpanTally> {
      let latest = await tally();
      let changedAt = Date.now();
      while (latest.spans < expectedSpans && Date.now() - changedAt < QUIET_MILLISECONDS) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MILLISECONDS));
        const next = await tally();
        if (next.spans !== latest.spans) changedAt = Date.now();
        latest = next;
      }
      return latest;
    },
  };
}
