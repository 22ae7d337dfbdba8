// A path under test: the same client, pointed either at the runtime itself or at a relay in front of it.

import type { CriClient } from "./cri-client.js";

export type RelayName = "criscope" | "nghttpx";
export type TargetName = "direct" | RelayName;

export interface BenchTarget {
  readonly name: TargetName;
  readonly client: CriClient;
  /** The relay's process, for its CPU and memory; absent for direct. */
  readonly relayPid?: number;
}

/** Each round starts with a different path, so drift (thermal, GC, page cache) spreads evenly. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}
