/**
 * The little of systemd's unit file syntax (systemd.syntax(7)) install needs to see
 * kubelet's command line: `Key=value` settings of the [Service] section with continuation
 * lines joined, and values split into words the way ExecStart= and Environment= split
 * them. Every setting keeps the file and line each part of its value came from, so a
 * refusal can name them.
 */

export interface UnitSetting {
  readonly file: string;
  readonly key: string;
  readonly value: string;
  /** Where each physical line of the value starts in `value`, with that line's number (1-based). */
  readonly lines: readonly { readonly offset: number; readonly line: number }[];
}

/** The line of the unit file that `offset` of a setting's value came from. */
export function lineOf(setting: UnitSetting, offset: number): number {
  let line = setting.lines[0]?.line ?? 0;
  for (const start of setting.lines) if (start.offset <= offset) line = start.line;
  return line;
}

function isComment(line: string): boolean {
  const first = line.trimStart()[0];
  return first === '#' || first === ';';
}

/** Whether a line ends in a backslash that is not itself escaped: systemd then joins the next line to it. */
function continues(line: string): boolean {
  let backslashes = 0;
  for (let at = line.length - 1; at >= 0 && line[at] === '\\'; at -= 1) backslashes += 1;
  return backslashes % 2 === 1;
}

/**
 * The settings of a unit file's [Service] section, in order. As systemd reads it: a line
 * ending in a backslash goes on with the next one (the backslash becomes a space), and a
 * comment line inside such a run is skipped.
 */
export function serviceSettings(text: string, file: string): UnitSetting[] {
  const settings: UnitSetting[] = [];
  let section = '';
  let logical: { text: string; lines: { offset: number; line: number }[] } | undefined;
  const finish = (): void => {
    if (logical === undefined) return;
    const { text: joined, lines } = logical;
    logical = undefined;
    const trimmed = joined.trim();
    if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
      section = trimmed.slice(1, -1);
      return;
    }
    const equals = joined.indexOf('=');
    if (section !== 'Service' || equals === -1) return;
    const key = joined.slice(0, equals).trim();
    const rest = joined.slice(equals + 1);
    const valueStart = equals + 1 + (rest.length - rest.trimStart().length);
    const value = rest.trim();
    settings.push({ file, key, value, lines: lines.map((start) => ({ offset: start.offset - valueStart, line: start.line })) });
  };
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (logical === undefined ? line.trim() === '' || isComment(line) : isComment(line)) return;
    const joined = continues(line);
    logical ??= { text: '', lines: [] };
    logical.lines.push({ offset: logical.text.length, line: index + 1 });
    logical.text += joined ? `${line.slice(0, -1)} ` : line;
    if (!joined) finish();
  });
  finish();
  return settings;
}

/** One word of a setting's value, unquoted and unescaped, with where it starts in the value. */
export interface UnitWord {
  readonly text: string;
  readonly offset: number;
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', s: ' ' };

/**
 * A value split into words as systemd splits ExecStart= and Environment=: at whitespace
 * outside quotes, quotes (double or single, also inside a word) removed, backslash
 * escapes undone. Undefined when a quote is left open (systemd ignores such a line).
 */
export function unitWords(value: string): UnitWord[] | undefined {
  const words: UnitWord[] = [];
  let at = 0;
  while (at < value.length) {
    while (at < value.length && /\s/.test(value[at])) at += 1;
    if (at >= value.length) break;
    const offset = at;
    let text = '';
    let quote: string | undefined;
    for (; at < value.length; at += 1) {
      const char = value[at];
      if (quote === undefined && /\s/.test(char)) break;
      if (char === '\\' && at + 1 < value.length) {
        at += 1;
        const escaped = value[at];
        text += ESCAPES[escaped] ?? escaped;
      } else if (quote === undefined && (char === '"' || char === "'")) {
        quote = char;
      } else if (char === quote) {
        quote = undefined;
      } else {
        text += char;
      }
    }
    if (quote !== undefined) return undefined;
    words.push({ text, offset });
  }
  return words;
}
