import picomatch from 'picomatch';
import type { CallEntry } from './call-entry.js';

/** Which calls a subscriber (or a reading of the recorder) wants; every given condition must hold. */
export interface EntryFilter {
  /** Globs over "NAMESPACE/NAME" (`*` stays within one part: "default/*", "*\/web-*"). */
  readonly pods?: readonly string[];
  /** Globs over the pod's namespace. */
  readonly namespaces?: readonly string[];
  /** Globs over the method name ("*Container*"). */
  readonly methods?: readonly string[];
  /** Only calls that did not end OK. */
  readonly errors?: boolean;
  /** Only calls policy denied. */
  readonly denied?: boolean;
  /** Only calls that took longer than this. */
  readonly slowerThanMs?: number;
  /** Only this CRI service. */
  readonly service?: 'runtime' | 'image';
}

/** The filter compiled once: a test per entry. */
export function entryMatcher(filter: EntryFilter): (entry: CallEntry) => boolean {
  const tests: ((entry: CallEntry) => boolean)[] = [];
  const anyOf = (globs: readonly string[] | undefined, value: (entry: CallEntry) => string | undefined): void => {
    if (globs === undefined || globs.length === 0) return;
    const matches = picomatch(globs as string[], { dot: true });
    tests.push((entry) => {
      const text = value(entry);
      return text !== undefined && matches(text);
    });
  };
  anyOf(filter.pods, (entry) => (entry.podName === undefined ? undefined : `${entry.podNamespace ?? ''}/${entry.podName}`));
  anyOf(filter.namespaces, (entry) => entry.podNamespace);
  anyOf(filter.methods, (entry) => entry.method);
  if (filter.errors === true) tests.push((entry) => entry.code !== 0);
  if (filter.denied === true) tests.push((entry) => entry.policy?.verdict === 'denied');
  const slowerThan = filter.slowerThanMs;
  if (slowerThan !== undefined) tests.push((entry) => entry.durationMs > slowerThan);
  const service = filter.service;
  if (service !== undefined) tests.push((entry) => entry.service === service);
  if (tests.length === 0) return () => true;
  return (entry) => tests.every((test) => test(entry));
}
