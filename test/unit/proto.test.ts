import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHECKER = fileURLToPath(new URL('../../../../shared/cri/check-proto.mjs', import.meta.url));

/**
 * The checker and its table of wire facts live beside the repository, not in it
 * (CI has them): a plain clone skips this check and says why in the output.
 */
const SKIP = existsSync(CHECKER) ? false : `the proto checker is not here (${CHECKER}); the check runs where ../shared/cri exists, as in CI`;

describe('proto/', () => {
  it('matches the wire facts of k8s.io/cri-api v0.36.3 exactly', { skip: SKIP }, () => {
    const result = spawnSync(process.execPath, [CHECKER], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /\b0 failed\b/);
  });
});
