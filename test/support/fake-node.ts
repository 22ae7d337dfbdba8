import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/kubelet/', import.meta.url));

/** A kubelet file from test/fixtures/kubelet/, as text. */
export function kubeletFixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** A node's root file system in a temp dir: files are placed and read by their node paths. */
export class FakeNode {
  readonly root = mkdtempSync(join(tmpdir(), 'criscope-node-'));

  path(nodePath: string): string {
    return join(this.root, nodePath);
  }

  put(nodePath: string, content: string, mode = 0o644): this {
    mkdirSync(dirname(this.path(nodePath)), { recursive: true });
    writeFileSync(this.path(nodePath), content);
    chmodSync(this.path(nodePath), mode);
    return this;
  }

  read(nodePath: string): string {
    return readFileSync(this.path(nodePath), 'utf8');
  }

  mode(nodePath: string): number {
    return lstatSync(this.path(nodePath)).mode & 0o777;
  }

  /** Every file and directory under the root with its mode and a hash of its bytes: equal snapshots mean nothing was written. */
  snapshot(): Map<string, string> {
    const entries = new Map<string, string>();
    const walk = (dir: string): void => {
      for (const name of readdirSync(join(this.root, dir)).sort()) {
        const nodePath = `${dir}/${name}`;
        const stat = lstatSync(join(this.root, nodePath));
        if (stat.isDirectory()) {
          entries.set(`${nodePath}/`, (stat.mode & 0o7777).toString(8));
          walk(nodePath);
        } else {
          entries.set(nodePath, `${(stat.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(join(this.root, nodePath))).digest('hex')}`);
        }
      }
    };
    walk('');
    return entries;
  }
}

/** A stand-in executable to install, since the tests run the TypeScript build (which install refuses to copy). */
export function fakeExecutable(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'criscope-binary-')), 'criscope');
  writeFileSync(path, '#!/bin/sh\necho "criscope (test stand-in)"\n');
  return path;
}

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `criscope <args>` to completion with extra environment (a PATH with stubs, say); never blocks the test's event loop. */
export function runCriscope(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return runProgram(process.execPath, [MAIN, ...args], env, timeoutMs);
}

/** GNU time, which reports a command's peak resident memory (getrusage's ru_maxrss); undefined where it is not installed. */
export const GNU_TIME = ['/usr/bin/time'].find((path) => existsSync(path));

/** Runs `criscope <args>` under GNU time: the run (time's own line taken out of stderr) and criscope's peak resident memory in bytes. */
export async function runCriscopeMeasured(args: readonly string[]): Promise<{ run: CliRun; peakRssBytes: number }> {
  if (GNU_TIME === undefined) throw new Error('GNU time (/usr/bin/time) is not installed');
  const run = await runProgram(GNU_TIME, ['-f', 'peak-rss-kb=%M', process.execPath, MAIN, ...args], {}, 120_000);
  const measured = /peak-rss-kb=(\d+)\n?$/.exec(run.stderr);
  if (measured === null) throw new Error(`GNU time printed no peak RSS:\n${run.stderr}`);
  return { run: { ...run, stderr: run.stderr.slice(0, measured.index) }, peakRssBytes: Number(measured[1]) * 1024 };
}

function runProgram(program: string, argv: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
