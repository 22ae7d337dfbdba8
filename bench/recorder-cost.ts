// The flight recorder's cost (issue 14): criscope with the recorder on, then with two `criscope tail`
// readers attached, against criscope with it off, in interleaved rounds against one stub runtime;
// and the recorder's memory after 100k calls on two fresh criscopes, against its bound. Tracing is
// off on all, so the difference is the recorder's alone.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import { runCalls } from "./call-runner.js";
import { smallCallSpecs, type CallSpec } from "./call-specs.js";
import { spawnChild, type ChildHandle } from "./child-process.js";
import type { BenchConfig } from "./config.js";
import { CriClient } from "./cri-client.js";
import { startCriscope } from "./criscope-relay.js";
import { formatMebibytes, formatTable } from "./format.js";
import { errorText } from "./paths-under-test.js";
import { cpuMicroseconds, residentBytes } from "./proc-stats.js";
import { progress } from "./progress.js";
import { startStubBackend } from "./stub-backend.js";
import type { Verdict } from "./verdicts.js";

/** The recorder's defaults (docs/operating.md), set explicitly so the figure does not move with them. */
const MAX_RECORDS = 20_000;
const MAX_BYTES = 16 * 1024 * 1024;
const TAIL_READERS = 2;
/** At most this much more CPU per call with the recorder and two readers than without the recorder. */
const MOST_ADDED_SHARE = 0.1;
const STUB_CONTAINER_ID = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";

interface Counts {
  readonly warmup: number;
  readonly rounds: number;
  readonly callsPerRound: number;
  readonly memoryCalls: number;
}

interface Instance {
  readonly label: string;
  readonly relay: ChildHandle;
  readonly client: CriClient;
  readonly adminSocket: string;
  readonly metricsPort: number;
}

export interface RecorderCostReport {
  readonly lines: readonly string[];
  readonly verdicts: readonly Verdict[];
  readonly failures: readonly string[];
}

function configFile(path: string, maxRecords: number): void {
  writeFileSync(path, ["flightRecorder:", `  maxRecords: ${maxRecords}`, `  maxBytes: ${MAX_BYTES}`, ""].join("\n"));
}

/** CPU µs per call of `instance` over `calls` calls at `concurrency`. */
async function cpuPerCall(instance: Instance, specs: readonly CallSpec[], concurrency: number, calls: number): Promise<number> {
  const before = cpuMicroseconds(instance.relay.pid);
  const outcome = await runCalls(instance.client, specs, concurrency, { calls });
  return (cpuMicroseconds(instance.relay.pid) - before) / outcome.calls;
}

/** One of /metrics' values, by exact series name. */
async function metricValue(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((each) => each.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A `criscope tail --json` reading everything, as an operator's terminal would; counts the lines it got. */
function startTail(config: BenchConfig, adminSocket: string, index: number): { child: ChildHandle; lines: () => number } {
  const child = spawnChild(`criscope tail ${index}`, process.execPath, [config.criscopeMain, "tail", "--admin-socket", adminSocket, "--json"]);
  let lines = 0;
  // indexOf finds each newline natively: a loop over every byte in JS would cost the bench CPU that criscope competes for.
  child.process.stdout?.on("data", (chunk: Buffer) => {
    for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lines++;
  });
  return { child, lines: () => lines };
}

/** Returns once the readers' line counts have held still for half a second: criscope sends a follower's lines up to 100 ms after their calls. */
async function readersCaughtUp(tails: readonly { lines: () => number }[]): Promise<void> {
  let before = "";
  for (;;) {
    const now = tails.map((tail) => tail.lines()).join();
    if (now === before) return;
    before = now;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

export async function recorderCostReport(config: BenchConfig, services: CriServiceDefinitions, workDir: string): Promise<RecorderCostReport> {
  // Enough calls a round for the CPU clock's 10 ms ticks to count in percent, not tens of percent.
  const counts: Counts = config.quick ? { warmup: 500, rounds: 2, callsPerRound: 2000, memoryCalls: 10_000 } : { warmup: 2000, rounds: 5, callsPerRound: 16_000, memoryCalls: 100_000 };
  progress("flight recorder: starting a stub and two criscopes (two more for its memory, later)");
  const stub = await startStubBackend(join(workDir, "recorder-stub.sock"), config.protoPath, 4096);
  const instances: Instance[] = [];
  const tails: { child: ChildHandle; lines: () => number }[] = [];
  /** A criscope keeping `maxRecords` calls, on a socket named from `name`, closed with the others at the end. */
  const start = async (name: string, label: string, maxRecords: number): Promise<Instance> => {
    const file = join(workDir, `${name}-${maxRecords}.yaml`);
    configFile(file, maxRecords);
    const socket = join(workDir, `${name}-${maxRecords}.sock`);
    const relay = await startCriscope("criscope", config.criscopeMain, ["--config", file], config.criscopeNodeOptions, socket, stub.socketPath);
    const client = new CriClient(socket, services);
    await client.waitForReady(10_000);
    const instance = { label, relay: relay.child, client, adminSocket: `${socket}.admin`, metricsPort: relay.metricsPort };
    instances.push(instance);
    return instance;
  };
  try {
    const off = await start("recorder", "recorder off", 0);
    const on = await start("recorder", "recorder on", MAX_RECORDS);
    const specs = smallCallSpecs(STUB_CONTAINER_ID);
    for (const instance of [off, on]) await runCalls(instance.client, specs, 4, { calls: counts.warmup });

    /** CPU per call at each concurrency: `subject` against `off`, interleaved round by round. */
    const compare = async (phase: string): Promise<Map<string, { off: number; subject: number }>> => {
      const results = new Map<string, { off: number; subject: number }>();
      for (const concurrency of [1, 16]) {
        const offRuns: number[] = [];
        const onRuns: number[] = [];
        for (let round = 0; round < counts.rounds; round++) {
          progress(`flight recorder: ${phase}, c=${concurrency}, round ${round + 1}`);
          const order = round % 2 === 0 ? [off, on] : [on, off];
          for (const instance of order) (instance === off ? offRuns : onRuns).push(await cpuPerCall(instance, specs, concurrency, concurrency === 1 ? counts.callsPerRound / 5 : counts.callsPerRound));
        }
        results.set(`c=${concurrency}`, { off: median(offRuns), subject: median(onRuns) });
      }
      return results;
    };
    const recorderOnly = await compare("recorder on");
    for (let index = 1; index <= TAIL_READERS; index++) tails.push(startTail(config, on.adminSocket, index));
    // Readers attached and reading before the rounds start.
    await runCalls(on.client, specs, 4, { calls: 200 });
    const withReaders = await compare(`recorder on, ${TAIL_READERS} tail readers`);
    const callsWhileAttached = 200 + counts.rounds * (counts.callsPerRound / 5 + counts.callsPerRound);
    await readersCaughtUp(tails);
    const linesRead = tails.map((tail) => tail.lines());
    // What the readers took for themselves (start-up included), on the same CPUs as criscope.
    const readerCpuPerLine = tails.map((tail, index) => cpuMicroseconds(tail.child.pid) / Math.max(1, linesRead[index] ?? 0));
    for (const tail of tails) await tail.child.stop();
    for (const instance of [off, on]) {
      // A client left open would keep reconnecting to a stopped criscope while memory is measured.
      instance.client.close();
      await instance.relay.stop();
    }

    // The memory is compared on two fresh criscopes that see the same calls and no reader: the
    // instances above carry the heap their readers' traffic grew, which admin.subscriberQueueBytes
    // bounds, not the recorder's bound.
    progress(`flight recorder: ${counts.memoryCalls} calls for its memory, on two fresh criscopes`);
    const memoryOff = await start("memory", "recorder off", 0);
    const memoryOn = await start("memory", "recorder on", MAX_RECORDS);
    for (const instance of [memoryOff, memoryOn]) await runCalls(instance.client, specs, 4, { calls: counts.warmup });
    const rssBefore = { off: residentBytes(memoryOff.relay.pid), on: residentBytes(memoryOn.relay.pid) };
    for (const instance of [memoryOff, memoryOn]) await runCalls(instance.client, specs, 16, { calls: counts.memoryCalls });
    const rssAfter = { off: residentBytes(memoryOff.relay.pid), on: residentBytes(memoryOn.relay.pid) };
    const heldCalls = await metricValue(memoryOn.metricsPort, "criscope_flight_recorder_calls");
    const heldBytes = await metricValue(memoryOn.metricsPort, "criscope_flight_recorder_bytes");

    const share = (subject: number, reference: number): string => `${subject >= reference ? "+" : ""}${(((subject - reference) / reference) * 100).toFixed(1)}%`;
    const rows = [...recorderOnly.keys()].map((key) => {
      const plain = recorderOnly.get(key);
      const read = withReaders.get(key);
      return [
        `small calls, ${key}`,
        `${plain?.off.toFixed(1)} µs`,
        `${plain?.subject.toFixed(1)} µs (${share(plain?.subject ?? NaN, plain?.off ?? NaN)})`,
        `${read?.off.toFixed(1)} µs`,
        `${read?.subject.toFixed(1)} µs (${share(read?.subject ?? NaN, read?.off ?? NaN)})`,
      ];
    });
    const verdicts: Verdict[] = [...withReaders].map(([key, { off: reference, subject }]) => {
      const passed = subject <= reference * (1 + MOST_ADDED_SHARE);
      return {
        passed,
        line: `${passed ? "PASS" : "FAIL"}  [recorder] CPU per small call, ${key}, recorder on + ${TAIL_READERS} tail readers: ${subject.toFixed(1)} µs vs ${reference.toFixed(1)} µs with it off (${share(subject, reference)}; target ≤ +${MOST_ADDED_SHARE * 100}%)`,
      };
    });
    const withinBound = heldCalls !== undefined && heldBytes !== undefined && heldCalls <= MAX_RECORDS && heldBytes <= MAX_BYTES && rssAfter.on - rssAfter.off <= MAX_BYTES;
    verdicts.push({
      passed: withinBound,
      line: `${withinBound ? "PASS" : "FAIL"}  [recorder] memory after ${counts.memoryCalls} more calls: holds ${heldCalls} calls, ${formatMebibytes(heldBytes ?? NaN)} counted; RSS ${formatMebibytes(rssAfter.on - rssAfter.off)} above criscope without it (target: within ${MAX_RECORDS} calls and ${formatMebibytes(MAX_BYTES)})`,
    });
    return {
      lines: [
        `relay CPU per call (utime+stime), median of ${counts.rounds} interleaved rounds; each column pair measured side by side; stub runtime, tracing off, recorder ${MAX_RECORDS} calls / ${formatMebibytes(MAX_BYTES)}`,
        ...formatTable([["load", "recorder off", "recorder on", "recorder off", `recorder on + ${TAIL_READERS} tail readers`], ...rows]),
        `tail readers got ${linesRead.join(" and ")} lines of the ${callsWhileAttached} calls made after they started, using ${readerCpuPerLine.map((micros) => micros.toFixed(1)).join(" and ")} µs of their own CPU a line (start-up included)`,
        `memory, two fresh criscopes with no reader: RSS after ${counts.warmup} calls ${formatMebibytes(rssBefore.off)} (off) / ${formatMebibytes(rssBefore.on)} (on); after ${counts.memoryCalls} more calls each ${formatMebibytes(rssAfter.off)} / ${formatMebibytes(rssAfter.on)}; the recorder holds ${heldCalls} calls, ${formatMebibytes(heldBytes ?? NaN)} by its own count`,
      ],
      verdicts,
      failures: [],
    };
  } catch (error) {
    return { lines: [], verdicts: [], failures: [`flight recorder: ${errorText(error)}`] };
  } finally {
    for (const tail of tails) await tail.child.stop();
    for (const instance of instances) {
      instance.client.close();
      await instance.relay.stop();
    }
    await stub.child.stop();
  }
}
