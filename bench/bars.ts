// The targets criscope is held to, all in one place. Each is stated against a yardstick measured in
// the same run (nghttpx, or criscope without tracing), so a busy or slow machine moves both sides.

const MEBIBYTE = 1024 * 1024;

export const BARS = {
  /** CPU per small call (c=1 and concurrent): at most this many times nghttpx's. */
  cpuPerSmallCallTimesNghttpx: 1.25,
  /** CPU per 4 MiB ListContainers: at most this many times nghttpx's. */
  cpuPerBigListTimesNghttpx: 1.5,
  /** Added p50 of small calls: at most nghttpx's plus this fraction of it. */
  smallAddedP50OverNghttpxFraction: 0.1,
  /** Added p50 of the 4 MiB ListContainers: at most nghttpx's plus this many µs. */
  bigAddedP50OverNghttpxMicroseconds: 2000,
  /** Small-call throughput at the high concurrency: at least this many times nghttpx's. */
  throughputTimesNghttpx: 1,
  /** CPU per small call with every call traced: at most this many times criscope's without tracing. */
  tracingCpuTimesUntraced: 1.25,
  /** criscope's VmRSS after the RSS phase's calls. */
  rssMaxBytes: 80 * MEBIBYTE,
  /** "Flat": the last quarter's median RSS at most this fraction above the second quarter's. */
  rssFlatMaxRise: 0.05,
  /** Added p50 of calls after an idle gap: at most this many times nghttpx's. */
  idleGapAddedP50TimesNghttpx: 1.25,
  /** Kubelet-shaped load, p99 of the added latency per call: at most nghttpx's plus this many µs. */
  kubeletAddedP99OverNghttpxMicroseconds: 1000,
  /** Policy evaluation per CreateContainer, median, in-process (its own issue's target). */
  policyCreateContainerP50Microseconds: 20,
} as const;
