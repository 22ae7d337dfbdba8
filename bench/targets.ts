// A path under test: the same client, pointed either at the runtime itself or at a relay in front of it.

import type { CriClient } from "./cri-client.js";

/** criscope as it starts by default (metrics on, tracing off), and with tracing on: their difference is tracing's cost. */
export type CriscopeName = "criscope" | "criscope+telemetry";
export type RelayName = CriscopeName | "nghttpx";
export type TargetName = "direct" | RelayName;

export interface BenchTarget {
  readonly name: TargetName;
  readonly client: CriClient;
  /** The relay's process, for its CPU and memory; absent for direct. */
  readonly relayPid?: number;
  /** Waits for work the relay still owes for the calls made so far (exporting their spans). */
  readonly settle?: () => Promise<void>;
}

/** Each round starts with a different path, so drift (thermal, GC, page cache) spreads evenly. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}
