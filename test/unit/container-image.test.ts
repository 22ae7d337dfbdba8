// The container image as an operator would check it before pushing it. No Docker engine runs
// here, so the Dockerfile is read (test/support/dockerfile.ts) and the executable it copies is
// run as the image would run it: with no Node beside it.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { argDefault, copyOf, execForm, instructionsIn, labelsOf, parseDockerfile, workdirBefore, type DockerStage } from '../support/dockerfile.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dockerfile = parseDockerfile(readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8'));
const packageVersion = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** Where `npm run build` puts the single executable (scripts/build.mjs), relative to the checkout. */
const BUILT_EXECUTABLE = 'dist/criscope';
const INSTALLED_EXECUTABLE = '/usr/local/bin/criscope';

function finalStage(): DockerStage {
  const stage = dockerfile.stages.at(-1);
  assert.ok(stage !== undefined, 'the Dockerfile has a FROM');
  return stage;
}

function buildStage(): DockerStage {
  const stages = dockerfile.stages.slice(0, -1);
  assert.equal(stages.length, 1, 'one build stage before the final one');
  const [stage] = stages;
  assert.ok(stage !== undefined);
  return stage;
}

function runCommands(stage: DockerStage): string[] {
  return instructionsIn(stage, 'RUN').map((instruction) => execForm(instruction)?.join(' ') ?? instruction.text);
}

describe('Dockerfile', () => {
  it('builds in a Node 20 Debian bookworm stage with npm ci, then npm run build', () => {
    const stage = buildStage();
    assert.match(stage.base, /^node:20(\.\d+)*-bookworm(-slim)?(@sha256:[0-9a-f]{64})?$/);
    const runs = runCommands(stage);
    const install = runs.findIndex((command) => /\bnpm ci\b/.test(command));
    const build = runs.findIndex((command) => /\bnpm run build\b/.test(command));
    assert.ok(install >= 0, `a RUN with npm ci, among: ${runs.join(' | ')}`);
    assert.ok(build > install, 'npm run build runs after npm ci');
  });

  it('carries only the executable the build makes, from the build stage, at /usr/local/bin/criscope, on debian:bookworm-slim', () => {
    const stage = finalStage();
    assert.match(stage.base, /^debian:bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    const copies = [...instructionsIn(stage, 'COPY'), ...instructionsIn(stage, 'ADD')];
    assert.equal(copies.length, 1, `one COPY in the final stage, found: ${copies.map((copy) => copy.text).join(' | ')}`);
    const copyInstruction = copies[0];
    assert.ok(copyInstruction !== undefined);
    const copy = copyOf(copyInstruction);
    const from = buildStage();
    assert.ok(copy.from !== undefined && copy.from === from.name, `copied --from the build stage (${from.name ?? 'unnamed'}), not the context`);
    const lastRun = instructionsIn(from, 'RUN').at(-1);
    assert.ok(lastRun !== undefined);
    const buildDirectory = workdirBefore(from, lastRun);
    assert.deepEqual(copy.sources, [posix.join(buildDirectory, BUILT_EXECUTABLE)], `the build's ${BUILT_EXECUTABLE}, in its WORKDIR ${buildDirectory}`);
    assert.equal(copy.destination, INSTALLED_EXECUTABLE);
  });

  it('enters that executable, as a user that is not root', () => {
    const stage = finalStage();
    const entrypoint = instructionsIn(stage, 'ENTRYPOINT').at(-1);
    assert.ok(entrypoint !== undefined, 'an ENTRYPOINT');
    assert.deepEqual(execForm(entrypoint), [INSTALLED_EXECUTABLE], 'exec form, so that Kubernetes args reach criscope unchanged');
    const user = instructionsIn(stage, 'USER').at(-1)?.text;
    assert.ok(user !== undefined, 'a USER');
    // Numeric, so that runAsNonRoot can tell it is not root without an /etc/passwd entry.
    assert.match(user, /^[1-9]\d*(:\d+)?$/);
    // The image proves the executable starts on its base (glibc, libstdc++) and has the tools the
    // installer DaemonSet runs: nsenter (install --systemd nsenter), sh and sed (node-env), sleep.
    const runs = runCommands(stage);
    assert.ok(runs.some((command) => command === `${INSTALLED_EXECUTABLE} --version`), `a RUN of ${INSTALLED_EXECUTABLE} --version, among: ${runs.join(' | ')}`);
    for (const tool of ['nsenter', 'sh', 'sed', 'sleep']) {
      assert.ok(runs.some((command) => new RegExp(`\\bcommand -v ${tool}\\b`).test(command)), `a RUN that checks for ${tool}`);
    }
  });

  it("is labelled with package.json's version and the OCI labels", () => {
    const stage = finalStage();
    const labels = labelsOf(stage);
    const version = (labels['org.opencontainers.image.version'] ?? '').replace('${VERSION}', argDefault(stage, 'VERSION') ?? '');
    assert.equal(version, packageVersion);
    for (const key of ['title', 'description', 'source', 'licenses']) {
      assert.ok((labels[`org.opencontainers.image.${key}`] ?? '') !== '', `org.opencontainers.image.${key}`);
    }
    const license = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { license: string }).license;
    assert.equal(labels['org.opencontainers.image.licenses'], license);
  });

  it('leaves node_modules and dist out of the build context, and keeps everything the build reads', () => {
    const patterns = readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    assert.ok(!patterns.some((pattern) => pattern.startsWith('!')), 'no exceptions: the checks below read top-level names only');
    const ignored = (name: string): boolean => patterns.some((pattern) => globToRegExp(pattern.replace(/^\/|\/$/g, '')).test(name));
    for (const name of ['node_modules', 'dist', '.build-image', '.git']) assert.ok(ignored(name), `${name} is ignored`);
    for (const name of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'test', 'bench', 'demo', 'proto', 'config', 'scripts']) {
      assert.ok(!ignored(name), `${name} reaches the build`);
    }
  });

  it('copies an executable that runs with no Node on the machine and reports the labelled version', (context) => {
    const skipped = join(PROJECT_ROOT, 'dist/criscope.sea-skipped');
    if (existsSync(skipped)) {
      context.skip(`npm run build made no single executable on this machine: ${readFileSync(skipped, 'utf8').trim()}`);
      return;
    }
    const executable = join(PROJECT_ROOT, BUILT_EXECUTABLE);
    assert.ok(existsSync(executable), `${executable} exists (npm run build makes it)`);
    // An ELF binary, not a script: the image has no node for a #! line to name.
    assert.deepEqual([...readFileSync(executable).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    const result = spawnSync(executable, ['--version'], { env: {}, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `criscope ${argDefault(finalStage(), 'VERSION') ?? ''}`);
  });
});

/** A .dockerignore pattern (Go's filepath.Match: `*` within a name) as a regular expression. */
function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}
