/** Turns one of criscope's JSON log lines into one short, readable line for the demo's live view. */

/** How failures and warnings stand out: colour on a terminal, a plain marker otherwise. */
export interface Paint {
  readonly failure: (text: string) => string;
  readonly warning: (text: string) => string;
}

export const ANSI: Paint = { failure: (text) => `\x1b[1;31m${text}\x1b[0m`, warning: (text) => `\x1b[33m${text}\x1b[0m` };
export const PLAIN: Paint = { failure: (text) => `${text}  <-- FAILED`, warning: (text) => text };

type Fields = Readonly<Record<string, unknown>>;

/** The messages CallLog gives a call (src/telemetry/call-log.ts). */
const CALL_MESSAGES = new Set(['call', 'call failed', 'call not decoded']);
/** pino's bookkeeping, which a plain line leaves out. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name', 'service']);
const PINO_WARN = 40;
const PINO_ERROR = 50;

export function formatLine(raw: string, paint: Paint): string {
  const fields = parseObject(raw);
  // Not JSON: e.g. criscope's own error text on stderr when it cannot start.
  if (fields === undefined) return raw;
  const message = text(fields['msg']) ?? '';
  if (CALL_MESSAGES.has(message) && text(fields['method']) !== undefined) return formatCall(fields, message, paint);
  const extras = Object.entries(fields)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const line = `${clock(fields['time'])}  ${[message, ...extras].join('  ')}`;
  const level = number(fields['level']) ?? 0;
  return level >= PINO_ERROR ? paint.failure(line) : level >= PINO_WARN ? paint.warning(line) : line;
}

function formatCall(fields: Fields, message: string, paint: Paint): string {
  const code = text(fields['code']) ?? (number(fields['resetCode']) !== undefined ? `RST(${number(fields['resetCode'])})` : '?');
  const duration = `${(number(fields['durationMs']) ?? 0).toFixed(1).padStart(8)} ms`;
  const head = `${clock(fields['time'])}  ${(text(fields['method']) ?? '').padEnd(20)} ${code.padEnd(9)} ${duration}`;
  const podName = text(fields['podName']);
  const details = [
    podName === undefined ? undefined : `pod=${text(fields['podNamespace']) ?? '?'}/${podName}`,
    labelled('uid', short(text(fields['podUid']))),
    labelled('sandbox', short(text(fields['sandboxId']))),
    labelled('container', short(text(fields['containerId']))),
    labelled('name', text(fields['containerName'])),
    labelled('image', text(fields['image'])),
    labelled('exit', number(fields['exitCode'])),
    labelled('items', number(fields['items'])),
    labelled('messages', number(fields['responseMessages'])),
    labelled('by', fields['byCriscope'] === true ? 'criscope' : undefined),
  ].filter((detail): detail is string => detail !== undefined);
  const line = [head, ...details].join('  ');
  if (message === 'call') return line;
  const why = errorMessage(fields['err']) ?? text(fields['grpcMessage']);
  return paint.failure(why === undefined ? line : `${line}  "${why}"`);
}

/** pino logs an error as an object ({ type, message, stack }); the line shows its message. */
function errorMessage(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'message' in err ? text(err.message) : text(err);
}

/** Ids and uids cut to a prefix, as crictl shows them (crictl accepts a unique prefix back). */
function short(id: string | undefined): string | undefined {
  return id === undefined || id.length <= 8 ? id : `${id.slice(0, 8)}…`;
}

function labelled(label: string, value: string | number | undefined): string | undefined {
  return value === undefined ? undefined : `${label}=${value}`;
}

/** pino's `time` (epoch ms) as local HH:MM:SS.mmm. */
function clock(time: unknown): string {
  const at = new Date(number(time) ?? Date.now());
  const two = (value: number): string => String(value).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}

function parseObject(raw: string): Fields | undefined {
  if (!raw.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Fields) : undefined;
  } catch {
    return undefined;
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function number(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
