import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseCommand } from '../../src/cli/args.js';

describe('the command line', () => {
  it('takes --admin-socket for serve as for the commands that read from it', () => {
    for (const command of ['serve', 'tail', 'top', 'why']) {
      const argv = [command, '--admin-socket', '/run/x/admin.sock', ...(command === 'why' ? ['default/web'] : [])];
      const parsed = parseCommand(argv);
      assert.ok('overrides' in parsed, command);
      assert.equal(parsed.overrides.adminSocket, '/run/x/admin.sock', `${command} uses the socket it was given`);
    }
  });
});
