import { z } from 'zod';
import { InstallError } from '../errors.js';
import { ENDPOINT_FIELDS } from './kubelet-config-edit.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';

/**
 * The record of what `criscope install` changed in kubelet's files
 * (/var/lib/criscope/install.json): enough for `uninstall` to put back each edit exactly,
 * and for a later install to know what kubelet used before criscope. Paths are the
 * node's own, so the record reads the same from the host and from the installer pod.
 */

/** What every edit records, whatever it edited. */
const editCommon = {
  /** The kubelet file edited. */
  file: z.string(),
  /** Whether the key or flag was there before install (else install added it). */
  present: z.boolean(),
  /** The exact source text before (`containerRuntimeEndpoint: ""`), empty when install added the key. */
  previousText: z.string(),
  /** The exact source text install wrote: the replaced text, or all it inserted. */
  writtenText: z.string(),
  /** The values before and after, for messages. */
  previousValue: z.string().nullable(),
  writtenValue: z.string(),
  /** The copy of the file made before criscope first edited it. */
  backup: z.string(),
};

/** A field of kubelet's config file (KubeletConfiguration). */
const configFieldEditSchema = z.object({
  kind: z.literal('config-field'),
  key: z.enum(ENDPOINT_FIELDS),
  ...editCommon,
});

/** A flag in one of kubelet's environment files (kubeadm-flags.env, /etc/default/kubelet). */
const flagEditSchema = z.object({
  kind: z.literal('flag'),
  /** The flag: `--container-runtime-endpoint`. */
  key: z.string(),
  /** The variable of the environment file that holds it, and which of its occurrences (from 0). */
  variable: z.string(),
  occurrence: z.number().int().nonnegative(),
  ...editCommon,
});

const editSchema = z.discriminatedUnion('kind', [configFieldEditSchema, flagEditSchema]);

const stateSchema = z.object({
  version: z.literal(1),
  /** kubelet's effective endpoints before criscope: what criscope relays to. */
  previousEndpoints: z.object({ runtime: z.string(), image: z.string() }),
  /** kubelet's config file when install was told it with --kubelet-config: later runs use it too. */
  kubeletConfig: z.string().optional(),
  edits: z.array(editSchema),
  /**
   * Set before install writes kubelet's files, cleared once `systemctl restart kubelet`
   * succeeded: while it is set, kubelet may still run with its old settings although its
   * files name criscope, so the next install or uninstall restarts kubelet even when it
   * changes no file. Absent in records written before it existed: nothing pending.
   */
  kubeletRestartPending: z.boolean().optional(),
  updatedAt: z.string(),
});

export type EditRecord = z.infer<typeof editSchema>;
export type ConfigFieldEdit = z.infer<typeof configFieldEditSchema>;
export type FlagEdit = z.infer<typeof flagEditSchema>;
export type InstallState = z.infer<typeof stateSchema>;
export type PreviousEndpoints = InstallState['previousEndpoints'];

/** The record, or undefined when there is none; a record that cannot be read is refused, never guessed at. */
export function readInstallState(node: NodeRoot): InstallState | undefined {
  const text = node.readText(NODE_PATHS.state);
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InstallError(NODE_PATHS.state, `not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = stateSchema.safeParse(data);
  if (!parsed.success) throw new InstallError(NODE_PATHS.state, `not an install record criscope can read: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

/** Written whole through a temporary file and a rename; readable by root only (it quotes kubelet's files). */
export function writeInstallState(node: NodeRoot, state: InstallState): void {
  node.write(NODE_PATHS.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** How an edit is named in a line: the config field, or the variable and the flag. */
export function editKey(edit: EditRecord): string {
  return edit.kind === 'flag' ? `${edit.variable} ${edit.key}` : edit.key;
}
