import type { TopMethodRow, TopPodRow, TopSnapshot } from '../telemetry/top/top-view.js';
import { clock, printable } from './call-line.js';
import { formatAge } from './readable-units.js';

/** What `criscope top` can sort its methods by, and the key for each. */
export const SORTS = { c: 'calls', p: 'p99', e: 'errors', f: 'in flight', n: 'name' } as const;
export type SortKey = keyof typeof SORTS;
const SORT_KEYS = Object.keys(SORTS) as SortKey[];

export function isSortKey(key: string): key is SortKey {
  return key in SORTS;
}

/** The sort after `key` in SORTS' order: what `s` steps to. */
export function nextSort(key: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(key) + 1) % SORT_KEYS.length];
}

const BY: Readonly<Record<SortKey, (a: TopMethodRow, b: TopMethodRow) => number>> = {
  c: (a, b) => b.callsPerSecond - a.callsPerSecond,
  p: (a, b) => (b.p99Ms ?? -1) - (a.p99Ms ?? -1),
  e: (a, b) => b.errorsPerSecond - a.errorsPerSecond,
  f: (a, b) => b.inFlight - a.inFlight || (b.oldestInFlightMs ?? 0) - (a.oldestInFlightMs ?? 0),
  n: () => 0,
};

function milliseconds(value: number | undefined): string {
  if (value === undefined) return '-';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function methodLine(row: TopMethodRow): string {
  return [
    row.method.padEnd(26),
    row.service.padEnd(8),
    row.callsPerSecond.toFixed(2).padStart(8),
    milliseconds(row.p50Ms).padStart(9),
    milliseconds(row.p99Ms).padStart(9),
    row.errorsPerSecond.toFixed(2).padStart(9),
    String(row.inFlight).padStart(9),
    (row.oldestInFlightMs === undefined ? '' : formatAge(row.oldestInFlightMs)).padStart(8),
  ].join(' ');
}

function podLine(row: TopPodRow): string {
  const pod = row.name === undefined ? `uid ${row.uid}` : `${row.namespace ?? '?'}/${row.name}`;
  const waiting = row.waitingOn === undefined ? '' : `${row.waitingOn.method}${row.waitingOn.target === undefined ? '' : ` ${row.waitingOn.target}`} (${formatAge(row.waitingOn.ageMs)})`;
  const { sandbox, pulls, creates, starts } = row.phasesMs;
  return [pod.padEnd(32), formatAge(row.ageMs).padStart(7), ...[sandbox, pulls, creates, starts].map((ms) => formatAge(ms).padStart(8)), ` ${waiting}`].join(' ');
}

/**
 * The screen `criscope top` shows for a snapshot, as lines: per method, its
 * last minute and its calls in flight, sorted by `sort`; below, the pods
 * starting now, with the time of each phase and what each waits on.
 */
export function topLines(snapshot: TopSnapshot, sort: SortKey): string[] {
  const methods = [...snapshot.methods].sort((a, b) => BY[sort](a, b) || a.method.localeCompare(b.method));
  const lines = [
    `criscope top  ${clock(snapshot.time)}  calls over the last ${snapshot.windowSeconds}s, sorted by ${SORTS[sort]}`,
    '',
    `${'METHOD'.padEnd(26)} ${'SERVICE'.padEnd(8)} ${'CALLS/S'.padStart(8)} ${'P50 MS'.padStart(9)} ${'P99 MS'.padStart(9)} ${'ERRORS/S'.padStart(9)} ${'IN FLIGHT'.padStart(9)} ${'OLDEST'.padStart(8)}`,
    ...(methods.length === 0 ? ['(no call in the last minute)'] : methods.map(methodLine)),
    '',
    `${'PODS STARTING'.padEnd(32)} ${'AGE'.padStart(7)} ${'SANDBOX'.padStart(8)} ${'PULLS'.padStart(8)} ${'CREATES'.padStart(8)} ${'STARTS'.padStart(8)}  WAITING ON`,
    ...(snapshot.podStarts.length === 0 ? ['(no pod starting)'] : snapshot.podStarts.map(podLine)),
  ];
  return lines.map((line) => printable(line).trimEnd());
}
