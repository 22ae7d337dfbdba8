import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, parseDocument, Scalar, type Node, type YAMLMap } from 'yaml';
import { InstallError } from '../errors.js';

/**
 * Edits to one top-level key of a YAML (or JSON) mapping, made as splices of the text:
 * `yaml` only locates the key and its value, and every byte outside the splice (comments,
 * key order, quoting, blank lines) stays as it was. Every edit is re-parsed and checked
 * to change that key and nothing else.
 */

/** Where one top-level `key: value` is in the text: from the key's first byte to the value's last. */
export interface PairSpan {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** The value as parsed (null for `key:` with nothing after it). */
  readonly value: unknown;
}

interface PairNodes {
  readonly key: string;
  readonly keyNode: Scalar;
  readonly valueNode: Node | null;
}

export interface ParsedMapping {
  readonly text: string;
  /** The mapping as plain data. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Written `{ … }`, as JSON is. */
  readonly flow: boolean;
  readonly start: number;
  readonly pairs: readonly PairNodes[];
}

/** One splice: the text it made, and the exact text before and after, for the install record. */
export interface SpliceResult {
  readonly text: string;
  /** Whether the key was there before. */
  readonly present: boolean;
  /** The `key: value` text replaced; empty when the key was added. */
  readonly previousText: string;
  /** The `key: value` text written, or, for an added key, everything inserted with it (separators, newline). */
  readonly writtenText: string;
}

/** Parses a file whose top level must be a mapping; `path` only names the file in errors. */
export function parseMapping(text: string, path: string): ParsedMapping {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const problem = document.errors[0];
  if (problem !== undefined) throw new InstallError(path, `not valid YAML: ${problem.message.split('\n')[0]}`);
  const contents = document.contents;
  if (!isMap(contents) || contents.range === undefined || contents.range === null) throw new InstallError(path, 'the top level is not a mapping');
  const pairs: PairNodes[] = [];
  for (const pair of (contents as YAMLMap).items) {
    const keyNode = pair.key;
    if (!isScalar(keyNode) || typeof keyNode.value !== 'string' || keyNode.range === undefined || keyNode.range === null) {
      throw new InstallError(path, 'a top-level key is not a plain string');
    }
    pairs.push({ key: keyNode.value, keyNode, valueNode: (pair.value as Node | null) ?? null });
  }
  const data = document.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  return { text, data, flow: contents.flow === true, start: contents.range[0], pairs };
}

function rangeOf(node: Node): [number, number] {
  const range = node.range;
  if (range === undefined || range === null) throw new Error('yaml node without a range');
  return [range[0], range[1]];
}

/** The span of a top-level key, or undefined when the mapping has no such key. */
export function pairSpan(mapping: ParsedMapping, key: string): PairSpan | undefined {
  const pair = mapping.pairs.find((candidate) => candidate.key === key);
  if (pair === undefined) return undefined;
  const end = pair.valueNode === null ? rangeOf(pair.keyNode)[1] : rangeOf(pair.valueNode)[1];
  return { key, start: rangeOf(pair.keyNode)[0], end, value: mapping.data[key] ?? null };
}

/** A value needs no quotes in YAML when it is made only of these (and starts with none of YAML's indicators). */
const PLAIN_SAFE = /^[A-Za-z0-9_/.][A-Za-z0-9_/.:@+-]*$/;

function quoted(value: string, style: Scalar.Type | undefined): string {
  if (style === Scalar.QUOTE_SINGLE) return `'${value.replaceAll("'", "''")}'`;
  if (style === Scalar.QUOTE_DOUBLE || !PLAIN_SAFE.test(value)) return JSON.stringify(value);
  return value;
}

function lineEnding(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

/** The offset where the line holding `offset` starts. */
function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/**
 * Sets a top-level key to a string, in place when the key is there (keeping its quoting
 * style, anchor and tag), else as a new pair: in a block mapping on a line of its own,
 * in sorted place when the keys are sorted (as kubeadm writes them), else after the key
 * `after` when there is one, else after the last pair; in a flow mapping (JSON) after the
 * last pair.
 */
export function setString(mapping: ParsedMapping, key: string, value: string, path: string, after?: string): SpliceResult {
  const { text } = mapping;
  const pair = mapping.pairs.find((candidate) => candidate.key === key);
  let result: SpliceResult;
  if (pair !== undefined) {
    const node = pair.valueNode;
    if (node !== null && !(isScalar(node) && (node.value === null || typeof node.value === 'string'))) throw new InstallError(path, `${key} is not a string; edit it by hand`);
    const style = node === null ? undefined : node.type;
    if (style !== undefined && style !== Scalar.PLAIN && style !== Scalar.QUOTE_DOUBLE && style !== Scalar.QUOTE_SINGLE) {
      throw new InstallError(path, `${key} is written as a block scalar; edit it by hand`);
    }
    const span = pairSpan(mapping, key) as PairSpan;
    const valueStart = node === null ? span.end : rangeOf(node)[0];
    const previousText = text.slice(span.start, span.end);
    if (previousText.includes('\n')) throw new InstallError(path, `${key} spans more than one line; edit it by hand`);
    let head = text.slice(span.start, valueStart);
    if (valueStart === span.end && !/\s$/.test(head)) head += ' ';
    const writtenText = head + quoted(value, mapping.flow && style === undefined ? Scalar.QUOTE_DOUBLE : style);
    result = { text: text.slice(0, span.start) + writtenText + text.slice(span.end), present: true, previousText, writtenText };
  } else {
    const { offset, inserted } = mapping.flow ? flowInsertion(mapping, key, value) : blockInsertion(mapping, key, value, after);
    result = { text: text.slice(0, offset) + inserted + text.slice(offset), present: false, previousText: '', writtenText: inserted };
  }
  checkOnlyKeyChanged(mapping, result.text, key, path, { value });
  return result;
}

function blockInsertion(mapping: ParsedMapping, key: string, value: string, after: string | undefined): { offset: number; inserted: string } {
  const { text, pairs } = mapping;
  const newline = lineEnding(text);
  const first = pairs[0];
  if (first === undefined) throw new Error('a block mapping without pairs');
  const indent = text.slice(lineStart(text, rangeOf(first.keyNode)[0]), rangeOf(first.keyNode)[0]);
  const line = `${indent}${key}: ${quoted(value, undefined)}`;
  const keys = pairs.map((pair) => pair.key);
  const sorted = keys.every((name, index) => index === 0 || keys[index - 1] < name);
  let anchor: string | undefined;
  if (sorted) anchor = keys.filter((name) => name < key).at(-1);
  else if (after !== undefined && keys.includes(after)) anchor = after;
  else anchor = keys.at(-1);
  // Sorted first: on the first key's line, ahead of it.
  if (anchor === undefined) return { offset: lineStart(text, rangeOf(first.keyNode)[0]), inserted: line + newline };
  const end = (pairSpan(mapping, anchor) as PairSpan).end;
  // A nested block value's range already ends after its last line break.
  if (end > 0 && text[end - 1] === '\n') return { offset: end, inserted: line + newline };
  const lineBreak = text.indexOf('\n', end);
  if (lineBreak === -1) return { offset: text.length, inserted: newline + line };
  return { offset: lineBreak + 1, inserted: line + newline };
}

function flowInsertion(mapping: ParsedMapping, key: string, value: string): { offset: number; inserted: string } {
  const { text } = mapping;
  const pair = `${JSON.stringify(key)}: ${JSON.stringify(value)}`;
  const last = mapping.pairs.at(-1);
  if (last === undefined) return { offset: mapping.start + 1, inserted: pair };
  const keyStart = rangeOf(last.keyNode)[0];
  const before = text.slice(lineStart(text, keyStart), keyStart);
  // Pretty-printed JSON: one pair a line, at the last pair's indent.
  const separator = /^[ \t]*$/.test(before) ? lineEnding(text) + before : ' ';
  return { offset: (pairSpan(mapping, last.key) as PairSpan).end, inserted: `,${separator}${pair}` };
}

/** What `key` must read as after an edit: a value, gone, or anything (a restore puts back what was there). */
type KeyAfterEdit = { readonly value: unknown } | 'removed' | 'restored';

/** Re-parses an edit: it must still parse, and differ from the original only in `key`. */
function checkOnlyKeyChanged(before: ParsedMapping, text: string, key: string, path: string, keyAfter: KeyAfterEdit): void {
  let after: ParsedMapping;
  try {
    after = parseMapping(text, path);
  } catch (error) {
    throw new InstallError(path, `editing ${key} would not leave valid YAML (${(error as Error).message}); edit it by hand`, { cause: error });
  }
  const expected: Record<string, unknown> = { ...before.data };
  if (keyAfter === 'removed') delete expected[key];
  else if (keyAfter === 'restored') {
    if (key in after.data) expected[key] = after.data[key];
    else delete expected[key];
  } else expected[key] = keyAfter.value;
  if (!isDeepStrictEqual(after.data, expected)) throw new InstallError(path, `editing ${key} would change more than ${key}; edit it by hand`);
}

/**
 * Replaces the exact text of one `key: value` span (`expected`) with `replacement`, or
 * removes an inserted pair whose whole inserted text is `expected`. Undefined when the
 * text around the key is no longer `expected` (changed since).
 */
export function restoreSpan(mapping: ParsedMapping, key: string, expected: string, replacement: string, path: string): string | undefined {
  const span = pairSpan(mapping, key);
  if (span === undefined) return undefined;
  const at = findCovering(mapping.text, expected, span.start, span.end);
  if (at === undefined) return undefined;
  const text = mapping.text.slice(0, at) + replacement + mapping.text.slice(at + expected.length);
  checkOnlyKeyChanged(mapping, text, key, path, replacement === '' ? 'removed' : 'restored');
  return text;
}

/** Where `needle` occurs in `text` covering [start, end), when it does exactly once. */
export function findCovering(text: string, needle: string, start: number, end: number): number | undefined {
  const found: number[] = [];
  for (let at = text.indexOf(needle, Math.max(0, end - needle.length)); at !== -1 && at <= start; at = text.indexOf(needle, at + 1)) {
    if (at + needle.length >= end) found.push(at);
  }
  return found.length === 1 ? found[0] : undefined;
}
