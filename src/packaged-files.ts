import { readFileSync } from 'node:fs';

/**
 * The project's own files that criscope needs at run time: the CRI proto, its version, and
 * what `criscope install` puts on a node. Read here from the checkout; the bundled build
 * replaces this module with one that carries them inline, so that the node build needs
 * nothing beside itself.
 */
export const PACKAGED_FILES = [
  'package.json',
  'proto/runtime/v1/api.proto',
  'config/criscope.yaml',
  'config/systemd/criscope.service',
  'config/systemd/criscope.socket',
  'config/systemd/criscope.env',
  'config/systemd/kubelet.service.d/90-criscope.conf',
] as const;

export type PackagedFile = (typeof PACKAGED_FILES)[number];

/** Whether this is the bundled build (one file, or the single executable). */
export const isBundledBuild = false;

export function packagedFile(name: PackagedFile): string {
  return readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');
}
