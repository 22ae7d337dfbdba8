import { InstallError } from '../errors.js';

/**
 * systemd's environment files (EnvironmentFile=: kubeadm-flags.env, /etc/default/kubelet),
 * read with the offset of every value so that a flag in one can be spliced in place.
 * Only what these files use is accepted: `NAME=value` lines, values in double or single
 * quotes or none, and `#`/`;` comment lines. Anything else is refused rather than
 * guessed at, because a misread flag file would point kubelet somewhere wrong.
 */

export interface EnvAssignment {
  readonly name: string;
  /** The value as written between its quotes (or the whole unquoted value). */
  readonly content: string;
  /** Offsets of `content` in the file. */
  readonly contentStart: number;
  readonly contentEnd: number;
  readonly quote: '"' | "'" | '';
  /** 1-based, for messages. */
  readonly line: number;
}

/** One whitespace-separated word of a value, as systemd splits `$NAME` in ExecStart=. */
export interface ArgToken {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const ASSIGNMENT = /^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*/;

function lineNumberAt(text: string, offset: number): number {
  let line = 1;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) line += 1;
  return line;
}

/** Every assignment in the file, in order; throws an InstallError naming the file and line. */
export function parseEnvFile(text: string, path: string): EnvAssignment[] {
  const assignments: EnvAssignment[] = [];
  let position = 0;
  while (position < text.length) {
    const lineEnd = text.indexOf('\n', position) === -1 ? text.length : text.indexOf('\n', position);
    const line = text.slice(position, lineEnd);
    const lineNumber = lineNumberAt(text, position);
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      position = lineEnd + 1;
      continue;
    }
    const match = ASSIGNMENT.exec(line);
    if (match === null) throw new InstallError(path, `line ${lineNumber} is not NAME=value`);
    const name = match[1];
    const valueStart = position + match[0].length;
    const first = text[valueStart];
    if (first === '"' || first === "'") {
      const close = closingQuote(text, valueStart + 1, first);
      if (close === -1) throw new InstallError(path, `unbalanced ${first} quote in ${name} on line ${lineNumber}`);
      const rest = text.indexOf('\n', close) === -1 ? text.length : text.indexOf('\n', close);
      if (text.slice(close + 1, rest).trim() !== '') throw new InstallError(path, `text after the closing quote of ${name} on line ${lineNumberAt(text, close)}`);
      assignments.push({ name, content: text.slice(valueStart + 1, close), contentStart: valueStart + 1, contentEnd: close, quote: first, line: lineNumber });
      position = rest + 1;
      continue;
    }
    const content = text.slice(valueStart, lineEnd).replace(/[ \t\r]+$/, '');
    if (content.endsWith('\\')) throw new InstallError(path, `${name} on line ${lineNumber} continues on the next line; join the lines`);
    for (const quote of ['"', "'"]) {
      if (content.split(quote).length % 2 === 0) throw new InstallError(path, `unbalanced ${quote} quote in ${name} on line ${lineNumber}`);
    }
    assignments.push({ name, content, contentStart: valueStart, contentEnd: valueStart + content.length, quote: '', line: lineNumber });
    position = lineEnd + 1;
  }
  return assignments;
}

/** The offset of the quote that closes one opened before `from`; -1 when there is none. */
function closingQuote(text: string, from: number, quote: '"' | "'"): number {
  for (let at = from; at < text.length; at += 1) {
    const char = text[at];
    if (quote === '"' && char === '\\') at += 1;
    else if (char === quote) return at;
  }
  return -1;
}

/** The assignment in force for a name (systemd takes the last one), if any. */
export function lastAssignment(assignments: readonly EnvAssignment[], name: string): EnvAssignment | undefined {
  return assignments.filter((assignment) => assignment.name === name).at(-1);
}

/**
 * A quoted value may go on over several lines, each but the last ending in a backslash
 * (kubespray's kubelet.env does). systemd drops the backslash and the line break and joins
 * the lines; kubespray puts a space before each backslash, which keeps its words apart.
 * Here a backslash-newline separates words too, so the two readings differ only for a
 * line that runs into the next with no space.
 */
const WORD = /(?:[^\s\\]|\\(?!\r?\n)[\s\S]?)+/g;

export function tokensOf(assignment: EnvAssignment): ArgToken[] {
  const tokens: ArgToken[] = [];
  for (const match of assignment.content.matchAll(WORD)) {
    const start = assignment.contentStart + (match.index ?? 0);
    tokens.push({ text: match[0], start, end: start + match[0].length });
  }
  return tokens;
}

/**
 * A flag's name as kubelet reads it: Go's pflag, as kubelet sets it up, takes `_` in a
 * flag's name for `-`, so `--container_runtime_endpoint` is `--container-runtime-endpoint`.
 */
export function flagNameOf(word: string): string {
  const equals = word.indexOf('=');
  const name = equals === -1 ? word : word.slice(0, equals);
  return name.startsWith('--') ? `--${name.slice(2).replaceAll('_', '-')}` : name;
}

/**
 * The value each occurrence of a long flag is given in a list of words, in both of the
 * forms kubelet (Go's pflag) accepts: `--flag=value` and `--flag value`, in either
 * spelling of its name. `start`/`end` span the flag and its value.
 */
export interface FlagOccurrence {
  readonly flag: string;
  readonly value: string;
  readonly start: number;
  readonly end: number;
  /** Where the value itself starts. */
  readonly valueStart: number;
}

export function flagOccurrences(tokens: readonly ArgToken[], flag: string, path: string): FlagOccurrence[] {
  const found: FlagOccurrence[] = [];
  tokens.forEach((token, index) => {
    if (flagNameOf(token.text) !== flag) return;
    const equals = token.text.indexOf('=');
    if (equals !== -1) {
      found.push({ flag, value: token.text.slice(equals + 1), start: token.start, end: token.end, valueStart: token.start + equals + 1 });
      return;
    }
    const value = tokens[index + 1];
    if (value === undefined || value.text.startsWith('-')) throw new InstallError(path, `${flag} has no value`);
    found.push({ flag, value: value.text, start: token.start, end: value.end, valueStart: value.start });
  });
  return found;
}
