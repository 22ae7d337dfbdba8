import { isDeepStrictEqual } from 'node:util';
import { InstallError } from '../errors.js';
import { flagOccurrences, lastAssignment, parseEnvFile, tokensOf, type EnvAssignment, type FlagOccurrence } from './env-file.js';
import type { EndpointField } from './kubelet-config-edit.js';
import { findCovering, type SpliceResult } from './yaml-splice.js';

/**
 * kubelet's flag files: one variable of an environment file that kubelet's unit expands
 * into its command line (KUBELET_KUBEADM_ARGS in kubeadm-flags.env, KUBELET_EXTRA_ARGS in
 * /etc/default/kubelet, kubespray's KUBELET_ARGS in /etc/kubernetes/kubelet.env). Edits are
 * splices of the flag's text, in whichever spelling it is written (`_` or `-`); every
 * other byte stays.
 */

export const ENDPOINT_FLAGS: Readonly<Record<EndpointField, string>> = {
  containerRuntimeEndpoint: '--container-runtime-endpoint',
  imageServiceEndpoint: '--image-service-endpoint',
};

export interface KubeletFlagsFile {
  readonly text: string;
  readonly variable: string;
  readonly assignments: readonly EnvAssignment[];
  /** The variable's assignment in force; undefined when the file does not set it. */
  readonly assignment: EnvAssignment | undefined;
}

export function parseFlagsFile(text: string, path: string, variable: string): KubeletFlagsFile {
  const assignments = parseEnvFile(text, path);
  return { text, variable, assignments, assignment: lastAssignment(assignments, variable) };
}

/** Each place the variable gives `flag`, in order (kubelet takes the last). */
export function flagsIn(file: KubeletFlagsFile, flag: string, path: string): FlagOccurrence[] {
  return file.assignment === undefined ? [] : flagOccurrences(tokensOf(file.assignment), flag, path);
}

/** Sets the value of the `index`th occurrence of `flag`, keeping its form (`=` or a space). */
export function setFlag(file: KubeletFlagsFile, flag: string, index: number, value: string, path: string): SpliceResult {
  const occurrence = flagsIn(file, flag, path)[index];
  if (occurrence === undefined) throw new Error(`no occurrence ${index} of ${flag}`);
  const previousText = file.text.slice(occurrence.start, occurrence.end);
  const writtenText = file.text.slice(occurrence.start, occurrence.valueStart) + value;
  const text = file.text.slice(0, occurrence.start) + writtenText + file.text.slice(occurrence.end);
  checkFlagEdit(file, text, flag, path, (values) => values.map((old, at) => (at === index ? value : old)));
  return { text, present: true, previousText, writtenText };
}

/** Adds `flag=value` at the end of the variable, or a line setting the variable when the file has none. */
export function addFlag(file: KubeletFlagsFile, flag: string, value: string, path: string): SpliceResult {
  const words = `${flag}=${value}`;
  const { assignment } = file;
  let offset: number;
  let inserted: string;
  if (assignment === undefined) {
    offset = file.text.length;
    inserted = `${file.text === '' || file.text.endsWith('\n') ? '' : '\n'}${file.variable}="${words}"\n`;
  } else {
    offset = assignment.contentEnd;
    inserted = assignment.content.trim() === '' || /\s$/.test(assignment.content) ? words : ` ${words}`;
  }
  const text = file.text.slice(0, offset) + inserted + file.text.slice(offset);
  checkFlagEdit(file, text, flag, path, (values) => [...values, value]);
  return { text, present: false, previousText: '', writtenText: inserted };
}

/**
 * Puts back the `index`th occurrence of `flag`: its text `writtenText` (or everything
 * install inserted with it) becomes `previousText`. Undefined when that occurrence is no
 * longer what install wrote.
 */
export function restoreFlag(text: string, path: string, variable: string, flag: string, index: number, writtenText: string, previousText: string): string | undefined {
  const file = parseFlagsFile(text, path, variable);
  const occurrence = flagsIn(file, flag, path)[index];
  if (occurrence === undefined) return undefined;
  const at = findCovering(text, writtenText, occurrence.start, occurrence.end);
  if (at === undefined) return undefined;
  const restored = text.slice(0, at) + previousText + text.slice(at + writtenText.length);
  parseFlagsFile(restored, path, variable);
  return restored;
}

/** An edit must leave a file that parses, the other variables as they were, and `flag`'s values as `expected` makes them. */
function checkFlagEdit(before: KubeletFlagsFile, text: string, flag: string, path: string, expected: (values: string[]) => string[]): void {
  let after: KubeletFlagsFile;
  try {
    after = parseFlagsFile(text, path, before.variable);
  } catch (error) {
    throw new InstallError(path, `editing ${flag} would not leave a valid environment file (${(error as Error).message}); edit it by hand`, { cause: error });
  }
  const others = (file: KubeletFlagsFile): string[] => file.assignments.filter((assignment) => assignment !== file.assignment).map((assignment) => `${assignment.name}=${assignment.content}`);
  const values = (file: KubeletFlagsFile): string[] => flagsIn(file, flag, path).map((occurrence) => occurrence.value);
  if (!isDeepStrictEqual(others(after), others(before)) || !isDeepStrictEqual(values(after), expected(values(before)))) {
    throw new InstallError(path, `editing ${flag} would change more than ${flag}; edit it by hand`);
  }
}
