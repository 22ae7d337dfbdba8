// criscope's benchmark: the same gRPC client straight to a CRI runtime, through criscope with
// tracing off and on, and through nghttpx (a C HTTP/2 relay, the yardstick), all in one run,
// against the stub runtime and, when scripts/test-runtime/up.sh has started one, the real containerd;
// then policy's evaluation cost per judged call (bench/policy-cost.ts).
// Prints a report and verdict lines; exits non-zero only if something crashed.

import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadCriServices } from "../test/support/stub-cri-server.js";
import type { BackendRun } from "./bench-backend.js";
import { describeSettings, readBenchConfig } from "./config.js";
import { benchAgainstContainerd } from "./containerd-run.js";
import { nghttpxVersion } from "./nghttpx-relay.js";
import { policyCostReport } from "./policy-cost.js";
import { headlines, suiteReport, tracingHeadline } from "./report.js";
import { benchAgainstStub } from "./stub-run.js";
import { verdictLines } from "./verdicts.js";

const config = readBenchConfig(process.env);
if (!existsSync(config.protoPath)) {
  process.stderr.write(`bench: no CRI proto at ${config.protoPath} (set CRISCOPE_BENCH_PROTO to use another)\n`);
  process.exit(1);
}
const services = loadCriServices(config.protoPath);
const workDir = await mkdtemp(join(tmpdir(), "criscope-bench-"));

const print = (...lines: string[]): void => {
  for (const line of lines) process.stdout.write(`${line}\n`);
};
/** Other work on the machine skews every path; the load average says how busy it was. */
const loadAverage = (): string => loadavg().map((value) => value.toFixed(2)).join(" ");

print(
  `criscope bench: node ${process.version}, ${availableParallelism()} CPUs, ${nghttpxVersion() ?? "no nghttpx"}, load average ${loadAverage()}`,
  `criscope extra args (both criscope paths): ${config.criscopeExtraArgs.length === 0 ? "(none)" : config.criscopeExtraArgs.join(" ")}`,
  "every call carries a fresh traceparent, on every path; criscope+telemetry also has a config turning tracing on",
  `settings: ${describeSettings(config)}`,
);

const runs: BackendRun[] = [];
const report = (run: BackendRun): void => {
  runs.push(run);
  print("", `== backend: ${run.scope}`, ...run.notes.map((note) => `note: ${note}`));
  if (run.result !== undefined) print(...suiteReport(run.result));
  print(...run.failures.map((failure) => `FAILED: ${failure}`));
};

try {
  if (config.backends.has("stub")) report(await benchAgainstStub(config, services, workDir));
  if (config.backends.has("containerd")) {
    const containerd = await benchAgainstContainerd(config, services, workDir);
    if (containerd !== undefined) report(containerd);
    else print("", "== backend: containerd", `note: not measured, no ${config.testRuntimeEnvFile} (bash scripts/test-runtime/up.sh writes it)`);
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}

print("", "== policy", ...(await policyCostReport()));

print("", `== summary (every ratio is against direct, measured in the same run; load average now ${loadAverage()})`);
for (const run of runs) {
  if (run.result !== undefined) print(...headlines(run.result, run.scope), ...tracingHeadline(run.result, run.scope), ...verdictLines(run.result, run.scope));
}
const failures = runs.flatMap((run) => run.failures);
if (failures.length > 0) {
  print(`${failures.length} failure(s) above: the bench exits non-zero`);
  process.exitCode = 1;
}
