import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { unixSocketPath } from '../../src/config/endpoint.js';
import { discoverRuntimeEndpoint } from '../../src/runtime/discover.js';

describe('runtime endpoint discovery', () => {
  it('takes the first candidate whose socket answers, as crictl does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criscope-discover-'));
    const live = join(dir, 'crio.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(live, resolve));
    try {
      const found = await discoverRuntimeEndpoint([`unix://${join(dir, 'containerd.sock')}`, `unix://${live}`]);
      assert.equal(found, `unix://${live}`);
    } finally {
      server.close();
    }
  });

  it('names every socket it tried when none answers', async () => {
    await assert.rejects(discoverRuntimeEndpoint(['unix:///nonexistent/a.sock', 'unix:///nonexistent/b.sock']), /none of the known sockets answers: unix:\/\/\/nonexistent\/a\.sock, unix:\/\/\/nonexistent\/b\.sock/);
  });
});

describe('unixSocketPath', () => {
  const cases: [string, string | undefined][] = [
    ['unix:///run/containerd/containerd.sock', '/run/containerd/containerd.sock'],
    ['unix:/run/crio/crio.sock', '/run/crio/crio.sock'],
    ['/run/x.sock', '/run/x.sock'],
    ['unix://relative.sock', undefined],
    ['tcp://127.0.0.1:1234', undefined],
    ['npipe:////./pipe/containerd', undefined],
  ];
  for (const [endpoint, path] of cases) {
    it(`${endpoint} → ${String(path)}`, () => assert.equal(unixSocketPath(endpoint), path));
  }
});
