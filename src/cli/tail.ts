import { copyCalls, readCalls } from './admin-client.js';
import { callLine } from './call-line.js';
import { linePaint, whenReaderGone } from './output.js';

/** What `criscope tail` was asked for. */
export interface TailOptions {
  readonly pods: readonly string[];
  readonly namespaces: readonly string[];
  readonly methods: readonly string[];
  readonly errors: boolean;
  readonly denied: boolean;
  readonly slowerThanMs: number | undefined;
  readonly service: 'runtime' | 'image' | undefined;
  readonly json: boolean;
  /** Start this far back, from the flight recorder; undefined starts now. */
  readonly sinceMs: number | undefined;
  readonly follow: boolean;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "200ms", "2s", "10m", "1h" in milliseconds; throws a TypeError naming the flag. */
export function parseDuration(text: string, flag: string): number {
  const match = DURATION.exec(text);
  if (match === null) throw new TypeError(`${flag} takes a duration such as 200ms, 2s, 10m or 1h, not "${text}"`);
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** The admin API query for these options. */
export function tailQuery(options: TailOptions, now: number): URLSearchParams {
  const query = new URLSearchParams();
  for (const pod of options.pods) query.append('pod', pod);
  for (const namespace of options.namespaces) query.append('namespace', namespace);
  for (const method of options.methods) query.append('method', method);
  if (options.errors) query.set('errors', '1');
  if (options.denied) query.set('denied', '1');
  if (options.slowerThanMs !== undefined) query.set('slowerThanMs', String(options.slowerThanMs));
  if (options.service !== undefined) query.set('service', options.service);
  // Without --since, following starts now, and --no-follow alone shows all the recorder holds.
  if (options.sinceMs !== undefined) query.set('sinceMs', String(now - options.sinceMs));
  else if (!options.follow) query.set('sinceMs', '0');
  query.set('follow', options.follow ? '1' : '0');
  return query;
}

const RECORDER_OFF_WARNING = 'criscope keeps no calls (its flight recorder is off: flightRecorder.maxRecords is 0), so there are none from before now\n';

/** Prints the calls criscope relays, one line each (or JSON lines), until criscope or the user stops it. */
export async function tail(socketPath: string, options: TailOptions, out: NodeJS.WriteStream, warnings: NodeJS.WritableStream): Promise<number> {
  const paint = linePaint(out);
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort();
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  const stopWatching = whenReaderGone(out, onInterrupt);
  // The lines of one read from criscope go out in one write: a write to a pipe or terminal is a system call.
  let unwritten = '';
  const flush = (): void => {
    const text = unwritten;
    unwritten = '';
    if (text !== '' && !stop.signal.aborted) out.write(text);
  };
  const print = (text: string): void => {
    if (unwritten === '') setImmediate(flush);
    unwritten += text;
  };
  const onRecorderOff = (): void => {
    if (options.sinceMs !== undefined || !options.follow) warnings.write(RECORDER_OFF_WARNING);
  };
  const query = tailQuery(options, Date.now());
  try {
    if (options.json) {
      // --json passes criscope's lines on as they came, a read at a time: they are the documented shape.
      await copyCalls(
        socketPath,
        query,
        {
          onLines: (bytes) => {
            if (!stop.signal.aborted) out.write(bytes);
          },
          onRecorderOff,
        },
        stop.signal,
      );
    } else {
      await readCalls(
        socketPath,
        query,
        {
          onCall: (entry) => print(`${callLine(entry, paint)}\n`),
          onLost: (count) => print(`… ${count} call${count === 1 ? '' : 's'} not shown: this reader fell behind criscope\n`),
          onRecorderOff,
        },
        stop.signal,
      );
    }
  } finally {
    flush();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    stopWatching();
  }
  return 0;
}
