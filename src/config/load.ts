import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

/** Settings given as command-line flags; each one present overrides the file. */
export type ConfigOverrides = Partial<Pick<ConfigInput, 'listen' | 'runtimeEndpoint' | 'imageEndpoint' | 'imageListen' | 'httpListen' | 'maxMessageBytes' | 'maxKeptBytesPerConnection' | 'policyFile'>> & {
  logLevel?: string;
  adminSocket?: string;
};

export interface FileIssue {
  readonly field: string;
  readonly reason: string;
}

/** Reads a YAML mapping; `fail` makes the error (config or policy) from what was wrong. */
export function readYamlMapping(path: string, fail: (issues: FileIssue[]) => Error): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fail([{ field: '', reason: `cannot read file: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const reason = error instanceof YAMLParseError ? error.message : String(error);
    throw fail([{ field: '', reason: `not valid YAML: ${reason}` }]);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw fail([{ field: '', reason: 'must be a YAML mapping of settings' }]);
  }
  return document as Record<string, unknown>;
}

/** Each issue with its field path as written in YAML terms: "rules[0].allowed[1]". */
export function issuesOf(error: z.ZodError): FileIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`)).join(''),
    reason: issue.message,
  }));
}

function readConfigFile(path: string): Record<string, unknown> {
  return readYamlMapping(path, (issues) => new ConfigError(path, issues));
}

/**
 * Reads the optional YAML file, applies flag overrides and validates the result.
 * The file is validated on its own first, so an error names the file or the flags
 * that caused it, and each bad field; the returned config is frozen.
 */
export function loadConfig(filePath: string | undefined, overrides: ConfigOverrides = {}): Config {
  const fromFile = filePath === undefined ? {} : readConfigFile(filePath);
  const { logLevel, adminSocket, ...flagSettings } = overrides;
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [key, value] of Object.entries(flagSettings)) {
    if (value !== undefined) merged[key] = value;
  }
  if (logLevel !== undefined) {
    const fileLog = typeof fromFile['log'] === 'object' && fromFile['log'] !== null ? fromFile['log'] : {};
    merged['log'] = { ...fileLog, level: logLevel };
  }
  if (adminSocket !== undefined) {
    const fileAdmin = typeof fromFile['admin'] === 'object' && fromFile['admin'] !== null ? fromFile['admin'] : {};
    merged['admin'] = { ...fileAdmin, socket: adminSocket };
  }
  if (filePath !== undefined) {
    const fileResult = configSchema.safeParse(fromFile);
    if (!fileResult.success) throw new ConfigError(filePath, issuesOf(fileResult.error));
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError('command-line flags', issuesOf(result.error));
  return Object.freeze(result.data);
}
