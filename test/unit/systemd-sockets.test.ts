import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { takeSystemdListenFds } from '../../src/relay/systemd-sockets.js';

describe('takeSystemdListenFds: the sockets systemd passed', () => {
  const cases: { name: string; env: NodeJS.ProcessEnv; fds: number[] }[] = [
    { name: 'none without LISTEN_FDS', env: {}, fds: [] },
    { name: 'fd 3 onwards when LISTEN_PID is this process', env: { LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'a:b' }, fds: [3, 4] },
    { name: 'none when they were meant for another process', env: { LISTEN_FDS: '1', LISTEN_PID: '41' }, fds: [] },
    { name: 'none for a count that is not a number', env: { LISTEN_FDS: 'x', LISTEN_PID: '42' }, fds: [] },
  ];
  for (const { name, env, fds } of cases) {
    it(name, () => {
      assert.deepEqual(takeSystemdListenFds(env, 42), fds);
      assert.deepEqual(Object.keys(env), [], 'the variables are removed so nothing started later inherits them');
    });
  }
});
