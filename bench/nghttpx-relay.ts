// nghttpx, nghttp2's C relay, configured as a plain h2c-to-h2c relay: the yardstick for criscope.

import { execFileSync } from "node:child_process";
import { spawnChild, waitUntilReady } from "./child-process.js";
import { unixSocketAccepts } from "./readiness-probes.js";
import type { RunningRelay } from "./relay.js";

/** Flow-control windows wide enough that a 4 MiB answer never waits on a WINDOW_UPDATE. */
const WINDOW = "16M";

export function nghttpxVersion(): string | undefined {
  try {
    return execFileSync("nghttpx", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

export async function startNghttpx(listenSocket: string, runtimeSocket: string): Promise<RunningRelay> {
  const args = [
    "--conf=/dev/null", // ignore any system /etc/nghttpx/nghttpx.conf
    "--single-process", // the pid we start is the one doing the work, so /proc shows its CPU
    "--workers=1",
    `--frontend=unix:${listenSocket};no-tls`, // accepts h2c with prior knowledge, as gRPC clients speak
    `--backend=unix:${runtimeSocket};;proto=h2`,
    // Forward as-is: no headers added or rewritten, as close to byte-exact as nghttpx goes.
    "--no-via",
    "--no-add-x-forwarded-proto",
    "--no-server-rewrite",
    "--no-location-rewrite",
    `--frontend-http2-window-size=${WINDOW}`,
    `--frontend-http2-connection-window-size=${WINDOW}`,
    `--backend-http2-window-size=${WINDOW}`,
    `--backend-http2-connection-window-size=${WINDOW}`,
    "--log-level=WARN",
  ];
  const child = spawnChild("nghttpx", "nghttpx", args);
  await waitUntilReady(child, `a listener on ${listenSocket}`, () => unixSocketAccepts(listenSocket));
  return { name: "nghttpx", socketPath: listenSocket, child };
}
