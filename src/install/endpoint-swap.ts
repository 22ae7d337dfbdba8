import { InstallError } from '../errors.js';
import { ENDPOINT_FIELDS, parseKubeletConfig, restoreEndpointField, setEndpointField, type EndpointField } from './kubelet-config-edit.js';
import { addFlag, ENDPOINT_FLAGS, flagsIn, parseFlagsFile, restoreFlag, setFlag } from './kubelet-flags-edit.js';
import type { KubeletSettings } from './kubelet-settings.js';
import type { EditRecord } from './install-state.js';
import { sameSocket } from '../config/endpoint.js';
import { BACKUP_SUFFIX } from './node-layout.js';
import { pairSpan } from './yaml-splice.js';

/**
 * The kubelet half of install and uninstall, as pure text work: which edits move kubelet
 * onto criscope (planned on the files' text, nothing written), and how each recorded edit
 * is put back.
 */

export type EndpointTargets = Readonly<Record<EndpointField, string>>;

/** One kubelet file's edits: its text before and after, and the record of each edit. */
export interface FileSwap {
  readonly file: string;
  readonly before: string;
  readonly after: string;
  readonly edits: readonly EditRecord[];
}

/** Where an edit goes before it is made. */
type PlannedEdit =
  | { readonly kind: 'config-field'; readonly field: EndpointField; readonly previousValue: string | null }
  | { readonly kind: 'flag'; readonly field: EndpointField; readonly variable: string; readonly occurrence: number | 'add'; readonly previousValue: string | null };

/**
 * Every place that sets an endpoint to something other than its target is set to the
 * target; a field no place sets is added to the config file (to a flag file when kubelet
 * has no config file). Each file's edits are made one after the other on its text, each
 * re-parsed and checked.
 */
export function planSwap(settings: KubeletSettings, targets: EndpointTargets): FileSwap[] {
  const planned = new Map<string, PlannedEdit[]>();
  const plan = (file: string, edit: PlannedEdit): void => {
    planned.set(file, [...(planned.get(file) ?? []), edit]);
  };
  for (const field of ENDPOINT_FIELDS) {
    const target = targets[field];
    const setting = settings.places.filter((place) => place.field === field);
    for (const place of setting) {
      if (sameSocket(place.value, target)) continue;
      if (place.kind === 'config-field') plan(place.file, { kind: 'config-field', field, previousValue: place.value });
      else plan(place.file, { kind: 'flag', field, variable: place.variable, occurrence: place.occurrence, previousValue: place.value });
    }
    if (setting.length > 0) continue;
    if (settings.configFile !== undefined) {
      const config = parseKubeletConfig(textOf(settings, settings.configFile), settings.configFile);
      const written = config.mapping.data[field];
      plan(settings.configFile, { kind: 'config-field', field, previousValue: typeof written === 'string' ? written : null });
      continue;
    }
    // kubelet without a config file: the flag goes where an operator's own flags go.
    const flagFile = settings.flagFiles.find((candidate) => candidate.variable === 'KUBELET_EXTRA_ARGS') ?? settings.flagFiles[0];
    if (flagFile === undefined) throw new InstallError('/var/lib/kubelet/config.yaml', `kubelet has no config file and none of the flag files criscope edits; pass --kubelet-config FILE (${settings.configFileFrom})`);
    plan(flagFile.path, { kind: 'flag', field, variable: flagFile.variable, occurrence: 'add', previousValue: null });
  }
  return [...planned].map(([file, edits]) => applyPlanned(file, textOf(settings, file), edits, targets));
}

/** The text kubelet-settings read of a file it found an endpoint in (so it has it). */
function textOf(settings: KubeletSettings, file: string): string {
  const text = settings.texts.get(file);
  if (text === undefined) throw new InstallError(file, 'was not read with kubelet\'s other files; run install again');
  return text;
}

function applyPlanned(file: string, before: string, planned: readonly PlannedEdit[], targets: EndpointTargets): FileSwap {
  let text = before;
  const edits: EditRecord[] = [];
  for (const edit of planned) {
    const target = targets[edit.field];
    const values = { previousValue: edit.previousValue, writtenValue: target, backup: file + BACKUP_SUFFIX };
    if (edit.kind === 'config-field') {
      const result = setEndpointField(parseKubeletConfig(text, file), edit.field, target, file);
      edits.push({ file, kind: 'config-field', key: edit.field, present: result.present, previousText: result.previousText, writtenText: result.writtenText, ...values });
      text = result.text;
    } else {
      const flag = ENDPOINT_FLAGS[edit.field];
      const flags = parseFlagsFile(text, file, edit.variable);
      const occurrence = edit.occurrence === 'add' ? flagsIn(flags, flag, file).length : edit.occurrence;
      const result = edit.occurrence === 'add' ? addFlag(flags, flag, target, file) : setFlag(flags, flag, occurrence, target, file);
      edits.push({ file, kind: 'flag', key: flag, variable: edit.variable, occurrence, present: result.present, previousText: result.previousText, writtenText: result.writtenText, ...values });
      text = result.text;
    }
  }
  return { file, before, after: text, edits };
}

export type RestoreOutcome =
  /** Put back: `text` is the file with the edit undone. */
  | { readonly kind: 'restored'; readonly text: string }
  /** The place already reads as before install (never written, or put back by someone). */
  | { readonly kind: 'already' }
  /** The place holds neither what install wrote nor what was there: someone changed it since. */
  | { readonly kind: 'changed' };

/** Undoes one recorded edit on the file's current text. */
export function restoreEdit(text: string, edit: EditRecord): RestoreOutcome {
  if (edit.kind === 'config-field') {
    const restored = restoreEndpointField(text, edit.file, edit.key, edit.writtenText, edit.previousText);
    if (restored !== undefined) return { kind: 'restored', text: restored };
    const span = pairSpan(parseKubeletConfig(text, edit.file).mapping, edit.key);
    const already = edit.present ? span !== undefined && text.slice(span.start, span.end) === edit.previousText : span === undefined;
    return already ? { kind: 'already' } : { kind: 'changed' };
  }
  const restored = restoreFlag(text, edit.file, edit.variable, edit.key, edit.occurrence, edit.writtenText, edit.previousText);
  if (restored !== undefined) return { kind: 'restored', text: restored };
  const now = flagsIn(parseFlagsFile(text, edit.file, edit.variable), edit.key, edit.file)[edit.occurrence];
  const already = edit.present ? now !== undefined && text.slice(now.start, now.end) === edit.previousText : now === undefined;
  return already ? { kind: 'already' } : { kind: 'changed' };
}

/** Whether a recorded edit is still in place (the file still holds what install wrote there). */
export function editInPlace(text: string | undefined, edit: EditRecord): boolean {
  if (text === undefined) return false;
  try {
    return restoreEdit(text, edit).kind === 'restored';
  } catch {
    // A file that no longer parses holds no edit of ours that could be put back.
    return false;
  }
}
