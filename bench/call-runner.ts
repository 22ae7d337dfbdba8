// Drives calls from a number of concurrent workers, for a set count or a set time.

import type { CallSpec } from "./call-specs.js";
import type { CriClient } from "./cri-client.js";

export type StopAfter = { readonly calls: number } | { readonly milliseconds: number };

export interface RunOutcome {
  readonly calls: number;
  readonly elapsedMilliseconds: number;
}

/** Workers take the specs in turn, so a mixed load stays evenly mixed whatever the concurrency. */
export async function runCalls(client: CriClient, specs: readonly CallSpec[], concurrency: number, stopAfter: StopAfter): Promise<RunOutcome> {
  const started = performance.now();
  const deadline = "milliseconds" in stopAfter ? started + stopAfter.milliseconds : Number.POSITIVE_INFINITY;
  const callLimit = "calls" in stopAfter ? stopAfter.calls : Number.POSITIVE_INFINITY;
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < callLimit && performance.now() < deadline) {
      const spec = specs[issued % specs.length];
      issued++;
      if (spec !== undefined) await spec.invoke(client);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { calls: issued, elapsedMilliseconds: performance.now() - started };
}
