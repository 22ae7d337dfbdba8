import { callTarget } from '../telemetry/call-target.js';
import { entryMatcher, type EntryFilter } from '../telemetry/recorder/entry-filter.js';
import { openDump } from '../telemetry/recorder/flight-dump.js';
import type { InFlightEntry } from '../telemetry/recorder/in-flight-entry.js';
import { callLine, printable } from './call-line.js';
import { linePaint, whenReaderGone } from './output.js';
import { formatAge } from './readable-units.js';

/** What `criscope flight show` was asked for: tail's filters, and --json. */
export interface FlightShowOptions extends EntryFilter {
  readonly json: boolean;
}

/** A call in flight when the dump was taken, as one line: its age, method, pod, and what it acts on. */
function inFlightLine(entry: InFlightEntry): string {
  const pod = entry.podName === undefined ? undefined : `pod=${entry.podNamespace ?? '?'}/${entry.podName}`;
  const parts = [`in flight ${formatAge(entry.ageMs)}`.padEnd(16), entry.method.padEnd(22), pod, callTarget(entry)];
  return printable(parts.filter((part) => part !== undefined).join('  '));
}

/**
 * Prints a flight dump: a line saying when and why it was taken, its calls in
 * tail's format (or, with --json, tail's JSON lines only), then what was in
 * flight when it was taken.
 */
export async function showFlightDump(path: string, options: FlightShowOptions, out: NodeJS.WritableStream & { isTTY?: boolean }): Promise<number> {
  const { header, entries } = await openDump(path);
  const matches = entryMatcher(options);
  const paint = linePaint(out);
  let readerGone = false;
  const stopWatching = whenReaderGone(out, () => (readerGone = true));
  try {
    if (!options.json) out.write(printable(`# flight dump taken ${header.time} by criscope ${header.criscope}: ${header.reason} (${header.calls} calls, ${header.inFlight.length} in flight)`) + '\n');
    for await (const entry of entries) {
      if (readerGone) return 0;
      if (!matches(entry)) continue;
      out.write(options.json ? `${JSON.stringify(entry)}\n` : `${callLine(entry, paint)}\n`);
    }
    if (options.json) return 0;
    // Filtered as calls that have not ended: never errors nor denials, as slow as they are old.
    for (const call of header.inFlight) {
      if (matches({ ...call, status: 'IN_FLIGHT', code: 0, durationMs: call.ageMs, requestBytes: 0, responseBytes: 0 })) out.write(`${inFlightLine(call)}\n`);
    }
    return 0;
  } finally {
    stopWatching();
  }
}
