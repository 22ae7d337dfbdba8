import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPCRUISE = join(PROJECT_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** Runs the lint's dependency check (the command `npm run lint` runs) in `root`. */
function checkImports(root: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', '.dependency-cruiser.cjs'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: result.stdout + result.stderr };
}

/** A copy of src/ with the lint's config, to break on purpose. */
function copyOfTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'criscope-layers-'));
  cpSync(join(PROJECT_ROOT, 'src'), join(root, 'src'), { recursive: true });
  for (const file of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(join(PROJECT_ROOT, file), join(root, file));
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
  copies.push(root);
  return root;
}

const copies: string[] = [];
after(() => {
  for (const root of copies) rmSync(root, { recursive: true, force: true });
});

describe('imports between the rooms of src/', () => {
  it('point one way today, with no cycle', () => {
    const { status, output } = checkImports(PROJECT_ROOT);
    assert.equal(status, 0, output);
  });

  it('fail the lint on an import from a room above, naming both files', () => {
    const root = copyOfTree();
    appendFileSync(join(root, 'src/cri/wire.ts'), "import type { FramePump } from '../relay/frame-pump.js';\nexport type Pump = FramePump;\n");
    const { status, output } = checkImports(root);
    assert.notEqual(status, 0, output);
    assert.match(output, /layer-order:cri: src\/cri\/wire\.ts → src\/relay\/frame-pump\.ts/);
  });

  it('fail the lint on a cycle, even within one room', () => {
    const root = copyOfTree();
    // setting-limit is imported by frame-pump; importing frame-pump back closes a cycle inside relay/.
    appendFileSync(join(root, 'src/relay/setting-limit.ts'), "import type { FramePump } from './frame-pump.js';\nexport type Pump = FramePump;\n");
    const { status, output } = checkImports(root);
    assert.notEqual(status, 0, output);
    assert.match(output, /no-circular: src\/relay\/frame-pump\.ts →\s+src\/relay\/setting-limit\.ts →\s+src\/relay\/frame-pump\.ts/);
  });

  it('fail the lint on a part of src/ that is in no room of the layer order, importing or imported', () => {
    const root = copyOfTree();
    appendFileSync(join(root, 'src/stray.ts'), "export const STRAY = 1;\n");
    appendFileSync(join(root, 'src/cri/wire.ts'), "export { STRAY } from '../stray.js';\n");
    appendFileSync(join(root, 'src/lost.ts'), "import { GrpcStatus } from './wire-codes.js';\nexport const OK = GrpcStatus.OK;\n");
    const { status, output } = checkImports(root);
    assert.notEqual(status, 0, output);
    assert.match(output, /room-not-in-layers: src\/cri\/wire\.ts → src\/stray\.ts/);
    assert.match(output, /room-not-in-layers: src\/lost\.ts → src\/wire-codes\.ts/);
  });

  it('fail the lint on an import from the tests into src/', () => {
    const root = copyOfTree();
    cpSync(join(PROJECT_ROOT, 'test/support/wait.ts'), join(root, 'test/support/wait.ts'));
    appendFileSync(join(root, 'src/cri/wire.ts'), "export { waitFor } from '../../test/support/wait.js';\n");
    const { status, output } = checkImports(root);
    assert.notEqual(status, 0, output);
    assert.match(output, /src-only: src\/cri\/wire\.ts → test\/support\/wait\.ts/);
  });
});
