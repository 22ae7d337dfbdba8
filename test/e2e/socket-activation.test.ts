import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { CriTestClient } from '../support/cri-client.js';
import { testRuntime } from '../support/runtime-env.js';
import { waitFor } from '../support/wait.js';

const runtime = testRuntime();
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Activated {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

/**
 * systemd's own socket activation, without systemd as PID 1: systemd-socket-activate
 * binds `socketPath`, and on the first connection execs criscope with the socket as
 * fd 3 and LISTEN_FDS/LISTEN_PID set, as criscope.socket does on a node.
 */
function activate(socketPath: string, listen: string): Activated {
  const child = spawn(
    'systemd-socket-activate',
    ['--listen', socketPath, process.execPath, MAIN, 'serve', '--listen', `unix://${listen}`, '--runtime-endpoint', `unix://${runtime.containerdSocket}`, '--http-listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('criscope under systemd socket activation (criscope.socket)', () => {
  it('serves on the socket systemd passed, and leaves it to systemd when it stops', async () => {
    const socketPath = join(mkdtempSync(join(tmpdir(), 'criscope-activated-')), 'criscope.sock');
    const activated = activate(socketPath, socketPath);
    try {
      await waitFor(() => existsSync(socketPath), 'systemd-socket-activate to bind the socket');
      const inode = statSync(socketPath).ino;
      // The first connection starts criscope, which accepts it from systemd's backlog.
      const client = new CriTestClient(socketPath);
      const direct = new CriTestClient(runtime.containerdSocket);
      try {
        assert.deepEqual(await client.call('Version', {}, { timeoutMs: 15_000 }), await direct.call('Version'));
      } finally {
        client.close();
        direct.close();
      }
      assert.match(activated.output(), /"msg":"criscope serving"/);
      assert.equal(statSync(socketPath).ino, inode, 'criscope must serve the passed socket, not bind a new one');
      activated.child.kill('SIGTERM');
      assert.equal(await activated.exited, 0);
      assert.ok(existsSync(socketPath), 'the socket file belongs to systemd, which keeps queueing connections on it');
    } finally {
      activated.child.kill('SIGKILL');
    }
  });

  it('refuses a passed socket that is not the one its config listens on, naming both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-activated-'));
    const socketPath = join(dir, 'passed.sock');
    const activated = activate(socketPath, join(dir, 'configured.sock'));
    try {
      await waitFor(() => existsSync(socketPath), 'systemd-socket-activate to bind the socket');
      const client = new CriTestClient(socketPath);
      await client.call('Version', {}, { timeoutMs: 10_000 }).catch(() => undefined);
      client.close();
      assert.equal(await activated.exited, 1);
      assert.match(activated.output(), new RegExp(`${socketPath}.*systemd passed this socket.*${join(dir, 'configured.sock')}`));
    } finally {
      activated.child.kill('SIGKILL');
    }
  });
});
