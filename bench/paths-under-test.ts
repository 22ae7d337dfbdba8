// For one backend: the direct path plus every relay that can run here, each with its own client.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import type { ChildHandle } from "./child-process.js";
import type { BenchConfig } from "./config.js";
import { CLIENT_TRACE_ID_PREFIX, CriClient } from "./cri-client.js";
import { startCriscope, writeTracingConfig } from "./criscope-relay.js";
import { nghttpxVersion, startNghttpx } from "./nghttpx-relay.js";
import { startOtlpSink, type OtlpSink, type TelemetrySpans } from "./otlp-sink.js";
import { progress } from "./progress.js";
import type { RunningRelay } from "./relay.js";
import type { BenchTarget, CriscopeName } from "./targets.js";

const ALL_CRISCOPE_NAMES: ReadonlySet<CriscopeName> = new Set(["criscope", "criscope+telemetry"]);

export interface PathsUnderTest {
  readonly targets: readonly BenchTarget[];
  /** Why a path is missing: not built, not installed. */
  readonly notes: readonly string[];
  /** A relay that should have run but failed: that makes the bench exit non-zero. */
  readonly failures: readonly string[];
  /** Relays that died while being measured. */
  deadRelays(): string[];
  /** Spans criscope+telemetry delivered against the calls made through it; undefined when it did not run. */
  telemetrySpans(): Promise<TelemetrySpans | undefined>;
  close(): Promise<void>;
}

export async function openPathsUnderTest(
  config: BenchConfig,
  services: CriServiceDefinitions,
  runtimeSocket: string,
  workDir: string,
  criscopeNames: ReadonlySet<CriscopeName> = ALL_CRISCOPE_NAMES,
): Promise<PathsUnderTest> {
  const notes: string[] = [];
  const failures: string[] = [];
  const relays: RunningRelay[] = [];
  let otlpSink: OtlpSink | undefined;

  const criscopeBuilt = existsSync(config.criscopeMain);
  if (!criscopeBuilt) notes.push(`criscope: not measured, ${config.criscopeMain} is not built yet`);
  if (criscopeBuilt && criscopeNames.has("criscope")) {
    progress(`starting criscope ${config.criscopeExtraArgs.join(" ")}`.trimEnd());
    try {
      relays.push(await startCriscope("criscope", config.criscopeMain, config.criscopeExtraArgs, config.criscopeNodeOptions, join(workDir, "criscope.sock"), runtimeSocket));
    } catch (error) {
      failures.push(`criscope failed to start: ${errorText(error)}`);
    }
  }
  if (criscopeBuilt && criscopeNames.has("criscope+telemetry")) {
    progress("starting an OTLP sink and criscope+telemetry");
    try {
      otlpSink = await startOtlpSink(CLIENT_TRACE_ID_PREFIX);
      const configFile = join(workDir, "criscope-telemetry.yaml");
      writeTracingConfig(configFile, otlpSink.endpoint);
      const args = [...config.criscopeExtraArgs, "--config", configFile];
      relays.push(await startCriscope("criscope+telemetry", config.criscopeMain, args, config.criscopeNodeOptions, join(workDir, "criscope-telemetry.sock"), runtimeSocket));
      notes.push(`criscope+telemetry: criscope ${args.join(" ")}, tracing every call to an OTLP receiver in a process of its own`);
    } catch (error) {
      failures.push(`criscope+telemetry failed to start: ${errorText(error)}`);
    }
  }
  if (nghttpxVersion() === undefined) {
    notes.push("nghttpx: not measured, not installed (apt-get install nghttp2-proxy)");
  } else {
    progress("starting nghttpx");
    try {
      relays.push(await startNghttpx(join(workDir, "nghttpx.sock"), runtimeSocket));
    } catch (error) {
      failures.push(`nghttpx failed to start: ${errorText(error)}`);
    }
  }

  const relayTarget = (relay: RunningRelay): BenchTarget => {
    const client = new CriClient(relay.socketPath, services);
    const sink = relay.name === "criscope+telemetry" ? otlpSink : undefined;
    const settle =
      sink === undefined
        ? undefined
        : async (): Promise<void> => {
            await sink.settle(client.callsMade);
          };
    return { name: relay.name, client, relayPid: relay.child.pid, settle };
  };
  const targets: BenchTarget[] = [{ name: "direct", client: new CriClient(runtimeSocket, services) }, ...relays.map(relayTarget)];
  const telemetryTarget = targets.find((target) => target.name === "criscope+telemetry");
  const close = async (): Promise<void> => {
    for (const target of targets) target.client.close();
    await Promise.all([...relays.map((relay) => relay.child.stop()), otlpSink?.child.stop()]);
  };
  try {
    await Promise.all(targets.map((target) => target.client.waitForReady(10_000)));
  } catch (error) {
    await close();
    throw error;
  }

  return {
    targets,
    notes,
    failures,
    deadRelays: () => {
      // The sink counts too: without it, criscope+telemetry's spans have nowhere to go.
      const watched: { readonly name: string; readonly child: ChildHandle }[] = [...relays];
      if (telemetryTarget !== undefined && otlpSink !== undefined) watched.push({ name: "OTLP sink", child: otlpSink.child });
      return watched.filter((watchee) => watchee.child.hasExited()).map((watchee) => `${watchee.name} died:\n${watchee.child.outputTail()}`);
    },
    async telemetrySpans(): Promise<TelemetrySpans | undefined> {
      if (telemetryTarget === undefined || otlpSink === undefined) return undefined;
      const callsMade = telemetryTarget.client.callsMade;
      return { ...(await otlpSink.settle(callsMade)), callsMade };
    },
    close,
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
