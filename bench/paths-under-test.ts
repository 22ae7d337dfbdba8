// For one backend: the direct path plus every relay that can run here, each with its own client.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CriServiceDefinitions } from "../test/support/stub-cri-server.js";
import type { BenchConfig } from "./config.js";
import { CriClient } from "./cri-client.js";
import { startCriscope } from "./criscope-relay.js";
import { nghttpxVersion, startNghttpx } from "./nghttpx-relay.js";
import { progress } from "./progress.js";
import type { RunningRelay } from "./relay.js";
import type { BenchTarget } from "./targets.js";

export interface PathsUnderTest {
  readonly targets: readonly BenchTarget[];
  /** Why a path is missing: not built, not installed. */
  readonly notes: readonly string[];
  /** A relay that should have run but failed: that makes the bench exit non-zero. */
  readonly failures: readonly string[];
  /** Relays that died while being measured. */
  deadRelays(): string[];
  close(): Promise<void>;
}

export async function openPathsUnderTest(
  config: BenchConfig,
  services: CriServiceDefinitions,
  runtimeSocket: string,
  workDir: string,
): Promise<PathsUnderTest> {
  const notes: string[] = [];
  const failures: string[] = [];
  const relays: RunningRelay[] = [];

  if (!existsSync(config.criscopeMain)) {
    notes.push(`criscope: not measured, ${config.criscopeMain} is not built yet`);
  } else {
    progress(`starting criscope ${config.criscopeExtraArgs.join(" ")}`.trimEnd());
    try {
      relays.push(await startCriscope(config.criscopeMain, config.criscopeExtraArgs, join(workDir, "criscope.sock"), runtimeSocket));
    } catch (error) {
      failures.push(`criscope failed to start: ${errorText(error)}`);
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

  const targets: BenchTarget[] = [
    { name: "direct", client: new CriClient(runtimeSocket, services) },
    ...relays.map((relay) => ({ name: relay.name, client: new CriClient(relay.socketPath, services), relayPid: relay.child.pid })),
  ];
  const close = async (): Promise<void> => {
    for (const target of targets) target.client.close();
    await Promise.all(relays.map((relay) => relay.child.stop()));
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
    deadRelays: () => relays.filter((relay) => relay.child.hasExited()).map((relay) => `${relay.name} died:\n${relay.child.outputTail()}`),
    close,
  };
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
