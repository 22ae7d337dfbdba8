import type { CallEntry } from '../telemetry/recorder/call-entry.js';

/** How a line shows its call's outcome: colour on a terminal, plain when piped. */
export interface LinePaint {
  readonly failed: (text: string) => string;
  readonly denied: (text: string) => string;
}

export const ANSI_PAINT: LinePaint = { failed: (text) => `\x1b[31m${text}\x1b[0m`, denied: (text) => `\x1b[33m${text}\x1b[0m` };
export const NO_PAINT: LinePaint = { failed: (text) => text, denied: (text) => text };

/** Ids cut to a prefix, as crictl shows them (and accepts back). */
export function short(id: string | undefined): string | undefined {
  return id === undefined || id.length <= 12 ? id : id.slice(0, 12);
}

function labelled(label: string, value: string | number | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : `${label}=${value}`;
}

/** The local time of day of an ISO time, HH:MM:SS.mmm. */
export function clock(time: string): string {
  const at = new Date(time);
  const two = (value: number): string => String(value).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}

/** Control characters (a terminal's escape sequences among them) shown as '?': the fields come from CRI clients. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** One call as one line: time, method, status, duration, then the pod, container and image it concerns, and the verdict. */
export function callLine(entry: CallEntry, paint: LinePaint): string {
  const head = `${clock(entry.time)}  ${entry.method.padEnd(22)} ${entry.status.padEnd(18)} ${entry.durationMs.toFixed(1).padStart(9)} ms`;
  const pod = entry.podName === undefined ? undefined : `pod=${entry.podNamespace ?? '?'}/${entry.podName}`;
  const policy = entry.policy === undefined ? undefined : `policy=${entry.policy.verdict}(${entry.policy.rule})`;
  const details = [
    pod,
    labelled('sandbox', short(entry.sandboxId)),
    labelled('container', short(entry.containerId)),
    labelled('name', entry.containerName),
    labelled('image', entry.image),
    labelled('exit', entry.exitCode),
    labelled('items', entry.items),
    policy,
    entry.message === undefined ? undefined : JSON.stringify(entry.message),
  ].filter((detail): detail is string => detail !== undefined);
  const line = printable([head, ...details].join('  '));
  if (entry.policy?.verdict === 'denied') return paint.denied(line);
  return entry.code === 0 ? line : paint.failed(line);
}
