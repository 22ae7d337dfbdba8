import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { CriscopeError } from '../../errors.js';
import { CALL_ENTRY_VERSION, type CallEntry } from './call-entry.js';
import { entryLine } from './entry-line.js';
import type { InFlightEntry } from './in-flight-entry.js';

/** The header line's `kind`: what tells a flight dump from any other gzip file of JSON lines. */
export const FLIGHT_DUMP_KIND = 'criscope-flight-dump';

/** What made a dump: SIGUSR1, or trouble criscope saw by itself. */
export type DumpTrigger = 'signal' | 'runtime-unreachable' | 'call-status' | 'stuck-call';

/** A dump's first line: what it is, when and why it was made, and what was in flight then. */
export interface FlightDumpHeader {
  readonly v: typeof CALL_ENTRY_VERSION;
  readonly kind: typeof FLIGHT_DUMP_KIND;
  /** When the dump was taken, ISO 8601 UTC. */
  readonly time: string;
  readonly trigger: DumpTrigger;
  /** In words: "StopContainer ended DEADLINE_EXCEEDED", "SIGUSR1". */
  readonly reason: string;
  /** The criscope that wrote it. */
  readonly criscope: string;
  /** The calls that follow the header. */
  readonly calls: number;
  /** The calls still waiting for an answer when the dump was taken, oldest first. */
  readonly inFlight: readonly InFlightEntry[];
}

/** A file that cannot be read as a flight dump. */
export class FlightDumpError extends CriscopeError {
  override readonly name = 'FlightDumpError';
}

const DUMP_NAME = /^flight-\d{8}T\d{9}Z-[a-z-]+\.jsonl\.gz$/;
const PARTIAL_NAME = /^\.flight-.*\.partial$/;
/** Entries serialised per turn of the event loop: a large dump never holds up relaying for long. */
const LINES_PER_TURN = 128;

/** flight-20261207T033804123Z-signal.jsonl.gz: names sort by time. */
export function dumpFileName(at: Date, trigger: DumpTrigger): string {
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return `flight-${stamp}-${trigger}.jsonl.gz`;
}

function isDumpFileName(name: string): boolean {
  return DUMP_NAME.test(name);
}

async function* dumpLines(header: FlightDumpHeader, entries: readonly CallEntry[]): AsyncGenerator<string> {
  yield `${JSON.stringify(header)}\n`;
  for (let start = 0; start < entries.length; start += LINES_PER_TURN) {
    let chunk = '';
    for (const entry of entries.slice(start, start + LINES_PER_TURN)) chunk += entryLine(entry);
    yield chunk;
    await nextTurn();
  }
}

/**
 * Writes a dump into `dir` (made mode 0700 if missing) and returns its path.
 * It is written under a hidden name and renamed when whole, so a reader never
 * sees half a dump; compression runs on libuv's threads, serialisation a batch
 * per turn of the event loop.
 */
export async function writeDump(dir: string, header: FlightDumpHeader, entries: readonly CallEntry[]): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = dumpFileName(new Date(header.time), header.trigger);
  const partial = join(dir, `.${name}.partial`);
  const path = join(dir, name);
  try {
    await pipeline(Readable.from(dumpLines(header, entries)), createGzip(), createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return path;
}

/** Removes all but the newest `keep` dumps in `dir` (and any partial one a crash left); returns the paths removed. */
export async function pruneDumps(dir: string, keep: number): Promise<string[]> {
  const names = await readdir(dir);
  const dumps = names.filter(isDumpFileName).sort();
  const stale = [...dumps.slice(0, Math.max(0, dumps.length - keep)), ...names.filter((name) => PARTIAL_NAME.test(name))];
  const removed = stale.map((name) => join(dir, name));
  for (const path of removed) await rm(path, { force: true });
  return removed;
}

/** A dump opened for reading: its header, and its calls as they are read. */
export interface OpenedDump {
  readonly header: FlightDumpHeader;
  readonly entries: AsyncIterable<CallEntry>;
}

function parseLine(path: string, line: string, lineNumber: number): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new FlightDumpError(`${path}, line ${lineNumber}: not a JSON line of a flight dump`, { cause: error });
  }
}

function isHeader(value: unknown): value is FlightDumpHeader {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === FLIGHT_DUMP_KIND;
}

/** Opens a dump: its header is read at once (and checked), its calls line by line as the caller iterates. */
export async function openDump(path: string): Promise<OpenedDump> {
  const input = createReadStream(path);
  const gunzip = createGunzip();
  // Whichever stream fails first ends the reading with why; raced against each line read.
  const failure = new Promise<never>((_resolve, reject) => {
    input.once('error', (error) => reject(new FlightDumpError(`cannot read ${path}: ${error.message}`, { cause: error })));
    gunzip.once('error', (error) => reject(new FlightDumpError(`${path} is not a flight dump (gzip-compressed JSON lines): ${error.message}`, { cause: error })));
  });
  // Handled where it is raced; this only keeps a failure after the last read from going unhandled.
  failure.catch(() => undefined);
  const lines = createInterface({ input: input.pipe(gunzip), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const first = await Promise.race([lines.next(), failure]);
  const header = first.done === true ? undefined : parseLine(path, first.value, 1);
  if (!isHeader(header)) {
    input.destroy();
    throw new FlightDumpError(`${path} is not a flight dump: its first line is not a header of kind "${FLIGHT_DUMP_KIND}"`);
  }
  const version: unknown = header.v;
  if (version !== CALL_ENTRY_VERSION) {
    input.destroy();
    throw new FlightDumpError(`${path} is a flight dump of version ${String(version)}; this criscope reads version ${CALL_ENTRY_VERSION}`);
  }
  async function* entries(): AsyncGenerator<CallEntry> {
    let lineNumber = 1;
    for (;;) {
      const next = await Promise.race([lines.next(), failure]);
      if (next.done === true) return;
      lineNumber++;
      if (next.value !== '') yield parseLine(path, next.value, lineNumber) as CallEntry;
    }
  }
  return { header, entries: entries() };
}
