import { z } from 'zod';
import { InstallError } from '../errors.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';

/**
 * The record of what `criscope install` changed in kubelet's files
 * (/var/lib/criscope/install.json): enough for `uninstall` to put back each edit exactly,
 * and for a later install to know what kubelet used before criscope. Paths are the
 * node's own, so the record reads the same from the host and from the installer pod.
 */

const editSchema = z.object({
  /** The kubelet file edited. */
  file: z.string(),
  kind: z.enum(['config-field', 'flag']),
  /** The config field (`containerRuntimeEndpoint`) or the flag (`--container-runtime-endpoint`). */
  key: z.string(),
  /** For a flag: the variable of the environment file that holds it, and which of its occurrences (from 0). */
  variable: z.string().optional(),
  occurrence: z.number().int().nonnegative().optional(),
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
});

const stateSchema = z.object({
  version: z.literal(1),
  /** kubelet's effective endpoints before criscope: what criscope relays to. */
  previousEndpoints: z.object({ runtime: z.string(), image: z.string() }),
  /** kubelet's config file when install was told it with --kubelet-config: later runs use it too. */
  kubeletConfig: z.string().optional(),
  edits: z.array(editSchema),
  updatedAt: z.string(),
});

export type EditRecord = z.infer<typeof editSchema>;
export type InstallState = z.infer<typeof stateSchema>;

/** The record, or undefined when there is none; a record that cannot be read is refused, never guessed at. */
export function readInstallState(node: NodeRoot): InstallState | undefined {
  const text = node.readText(NODE_PATHS.state);
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InstallError(NODE_PATHS.state, `not valid JSON: ${(error as Error).message}`);
  }
  const parsed = stateSchema.safeParse(data);
  if (!parsed.success) throw new InstallError(NODE_PATHS.state, `not an install record criscope can read: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

/** Written whole through a temporary file and a rename; readable by root only (it quotes kubelet's files). */
export function writeInstallState(node: NodeRoot, state: InstallState): void {
  node.write(NODE_PATHS.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
