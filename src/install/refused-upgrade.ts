import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InstallError } from '../errors.js';
import { sha256Of } from './executable-file.js';
import type { ExecutableSource, NodeFile } from './node-files.js';
import { NODE_PATHS } from './node-layout.js';
import type { NodeRoot } from './node-root.js';

/**
 * An upgrade whose criscope did not answer, while the previous one answered again once put
 * back: the new files are at fault, not the runtime. Remembered so that installing the
 * same files again (an installer pod's init container retried with back-off, say) is
 * refused at once, instead of taking the node's runtime endpoint away again on every try.
 */
const refusedUpgradeSchema = z.object({ digest: z.string(), refusedAt: z.string(), reason: z.string() });
type RefusedUpgrade = z.infer<typeof refusedUpgradeSchema>;

/** One digest for everything an install would put on the node: the executable's bytes and each file's path and content. */
export function upgradeDigest(executable: ExecutableSource, files: readonly NodeFile[]): string {
  const hash = createHash('sha256').update(sha256Of(executable.path));
  for (const file of files) hash.update(`\0${file.path}\0${file.content}`);
  return hash.digest('hex');
}

/** Refuses, before anything is written, the files of an upgrade that was rolled back. */
export function refuseKnownBadUpgrade(node: NodeRoot, digest: string): void {
  const text = node.readText(NODE_PATHS.refusedUpgrade);
  if (text === undefined) return;
  let refused: RefusedUpgrade;
  try {
    refused = refusedUpgradeSchema.parse(JSON.parse(text));
  } catch {
    return; // Unreadable: it only ever saves time, so it is not worth refusing over.
  }
  if (refused.digest !== digest) return;
  throw new InstallError(
    NODE_PATHS.refusedUpgrade,
    `these files were installed at ${refused.refusedAt} and criscope did not answer (${refused.reason}), while the previous criscope did once put back; nothing was changed this time. Install other files, or remove ${NODE_PATHS.refusedUpgrade} to try these again`,
  );
}

export function rememberRefusedUpgrade(node: NodeRoot, digest: string, reason: string): void {
  const refused: RefusedUpgrade = { digest, refusedAt: new Date().toISOString(), reason };
  node.write(NODE_PATHS.refusedUpgrade, `${JSON.stringify(refused, null, 2)}\n`, 0o600);
}

/** A criscope answered after install: no refusal stands any more. */
export function forgetRefusedUpgrade(node: NodeRoot): void {
  node.remove(NODE_PATHS.refusedUpgrade);
}
