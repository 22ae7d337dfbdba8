import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FakeNode } from './fake-node.js';

/** Makes `nodePath` on a fake node a symbolic link to `target`, written as given (absolute targets name the node's own paths). */
export function linkOn(node: FakeNode, nodePath: string, target: string): void {
  mkdirSync(dirname(node.path(nodePath)), { recursive: true });
  symlinkSync(target, node.path(nodePath));
}

/** What a node path is, its last part not followed: "link → target", or a file's mode and hash, or a directory's mode. */
export function entryOf(node: FakeNode, nodePath: string): string {
  const hostPath = node.path(nodePath);
  const stat = lstatSync(hostPath);
  if (stat.isSymbolicLink()) return `link → ${readlinkSync(hostPath)}`;
  const mode = (stat.mode & 0o7777).toString(8);
  if (stat.isDirectory()) return `dir ${mode}`;
  return `file ${mode} ${createHash('sha256').update(readFileSync(hostPath)).digest('hex')}`;
}

/**
 * Every entry under the node's root, links recorded as links (FakeNode.snapshot follows
 * them, and cannot take a link to a directory): equal snapshots mean nothing was written.
 */
export function snapshotWithLinks(node: FakeNode): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(node.root, dir)).sort()) {
      const nodePath = `${dir}/${name}`;
      const entry = entryOf(node, nodePath);
      entries.set(nodePath, entry);
      if (entry.startsWith('dir ')) walk(nodePath);
    }
  };
  walk('');
  return entries;
}

