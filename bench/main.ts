// criscope's benchmark: the same gRPC client straight to a CRI runtime, through criscope with
// tracing off and on, and through nghttpx (a C HTTP/2 relay, the yardstick), all in one run,
// against the stub runtime and, when scripts/test-runtime/up.sh has started one, the real containerd;
// a kubelet-shaped load through fresh relays; the flight recorder's cost; then policy's evaluation
// cost per judged call.
// Prints markdown on stdout (progress goes to stderr), fit to commit as bench/results/<date>.md.
// Exits non-zero when a verdict fails or something crashed.

import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCriServices } from "../test/support/stub-cri-server.js";
import type { BackendRun } from "./bench-backend.js";
import { readBenchConfig } from "./config.js";
import { benchAgainstContainerd } from "./containerd-run.js";
import { policyCostInOwnProcess } from "./policy-cost.js";
import { recorderCostReport, type RecorderCostReport } from "./recorder-cost.js";
import { headlines, kubeletReport, suiteReport, tracingHeadline } from "./report.js";
import { loadAverage, runHeader } from "./run-header.js";
import { benchAgainstStub } from "./stub-run.js";
import { verdicts, type Verdict } from "./verdicts.js";

const config = readBenchConfig(process.env);
if (!existsSync(config.protoPath)) {
  process.stderr.write(`bench: no CRI proto at ${config.protoPath} (set CRISCOPE_BENCH_PROTO to use another)\n`);
  process.exit(1);
}
const services = loadCriServices(config.protoPath);
const workDir = await mkdtemp(join(tmpdir(), "criscope-bench-"));

const print = (...lines: readonly string[]): void => {
  for (const line of lines) process.stdout.write(`${line}\n`);
};
/** Tables are aligned plain text: fenced, they survive markdown rendering. */
const printFenced = (lines: readonly string[]): void => {
  if (lines.length > 0) print("```text", ...lines, "```");
};

print(...(await runHeader(config, services)));

const runs: BackendRun[] = [];
const report = (run: BackendRun): void => {
  runs.push(run);
  print("", `## backend: ${run.scope}`, "", ...run.notes.map((note) => `- ${note}`), "");
  if (run.result !== undefined) printFenced(suiteReport(run.result));
  if (run.kubelet !== undefined) {
    print("");
    printFenced(kubeletReport(run.kubelet, run.kubeletShapeOnly === true));
  }
  if (run.failures.length > 0) {
    print("");
    printFenced(run.failures.map((failure) => `FAILED: ${failure}`));
  }
};

let recorder: RecorderCostReport | undefined;
try {
  if (config.backends.has("stub")) {
    report(await benchAgainstStub(config, services, workDir));
    recorder = await recorderCostReport(config, services, workDir);
    print("", "## flight recorder", "");
    printFenced(recorder.lines);
    if (recorder.failures.length > 0) printFenced(recorder.failures.map((failure) => `FAILED: ${failure}`));
  }
  if (config.backends.has("containerd")) {
    const containerd = await benchAgainstContainerd(config, services, workDir);
    if (containerd !== undefined) report(containerd);
    else print("", "## backend: containerd", "", `- not measured, no ${config.testRuntimeEnvFile} (bash scripts/test-runtime/up.sh writes it)`);
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

const policy = await policyCostInOwnProcess(config.criscopeNodeOptions);
print("", "## policy", "");
printFenced(policy.lines);

print("", `## summary`, "", `load average at the end: ${loadAverage()}`, "", "Relays against direct, measured in the same run:", "");
printFenced(runs.flatMap((run) => (run.result === undefined ? [] : [...headlines(run.result, run.scope), ...tracingHeadline(run.result, run.scope)])));

const allVerdicts: Verdict[] = [...runs.flatMap(verdicts), ...(recorder?.verdicts ?? []), policy.verdict];
const failedVerdicts = allVerdicts.filter((verdict) => !verdict.passed).length;
print("", "## verdicts", "", "Each of criscope's targets against its yardstick measured in the same run.", "");
printFenced(allVerdicts.map((verdict) => verdict.line));

const failures = [...runs.flatMap((run) => run.failures), ...(recorder?.failures ?? [])];
const outcome = [
  `${allVerdicts.length - failedVerdicts} of ${allVerdicts.length} verdicts pass`,
  ...(failures.length > 0 ? [`${failures.length} failure(s) while measuring (above)`] : []),
];
print("", `${outcome.join("; ")}${failedVerdicts > 0 || failures.length > 0 ? ": the bench exits non-zero" : ""}.`);
if (failedVerdicts > 0 || failures.length > 0) process.exitCode = 1;
