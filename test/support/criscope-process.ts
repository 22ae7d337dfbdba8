import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CriscopeProcess {
  readonly socketPath: string;
  /** The socket for kubelet's image endpoint, when started with an image endpoint. */
  readonly imageSocketPath: string | undefined;
  readonly httpUrl: string;
  readonly child: ChildProcess;
  /** Every JSON log line criscope has written so far. */
  logLines(): Record<string, unknown>[];
  /** Everything criscope has written to stdout and stderr. */
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  readonly runtimeSocket: string;
  readonly imageSocket?: string;
  readonly extraArgs?: readonly string[];
  readonly socketPath?: string;
  readonly logLevel?: string;
  /** Written to a config file criscope is started with (flags still override it). */
  readonly config?: Record<string, unknown>;
  /** Added to criscope's environment (OTEL_* variables). */
  readonly env?: Record<string, string>;
  /** Runs this executable instead of `node dist/src/cli/main.js` (the node build), in `cwd`. */
  readonly program?: { readonly executable: string; readonly cwd: string };
}

/** How long criscope may take to serve; generous, since a loaded CI machine can be slow to load Node modules. */
const START_DEADLINE_MS = 30_000;

/** Resolves with criscope's HTTP address once it logs that it serves (the port is chosen by the kernel). */
function servingUrl(child: ChildProcess, output: () => string, exited: Promise<number | null>): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const onData = (): void => {
      const serving = /"http":"([^"]+)","msg":"criscope serving"/.exec(output());
      if (serving === null) return;
      settle();
      resolve(`http://${serving[1]}`);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new Error(`criscope did not start serving within ${Date.now() - started} ms:\n${output()}`));
    }, START_DEADLINE_MS);
    const settle = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      settle();
      reject(new Error(`criscope exited with ${code}:\n${output()}`));
    });
  });
}

/** Starts the real criscope CLI in a child process on a fresh socket, and waits until it serves. */
export async function startCriscope(options: StartOptions): Promise<CriscopeProcess> {
  const socketPath = options.socketPath ?? join(mkdtempSync(join(tmpdir(), 'criscope-')), 'criscope.sock');
  const configDir = mkdtempSync(join(tmpdir(), 'criscope-config-'));
  const configPath = join(configDir, 'criscope.yaml');
  // The flight recorder is on by default: its dumps (the runtime lost, a deadline passed) go beside the test's config, not to /var/lib.
  const flightRecorder = { dumpDir: join(configDir, 'flight'), ...(options.config?.['flightRecorder'] as Record<string, unknown> | undefined) };
  writeFileSync(configPath, toYaml({ ...options.config, flightRecorder }));
  const configArgs = ['--config', configPath];
  const imageSocketPath = options.imageSocket === undefined ? undefined : join(dirname(socketPath), 'criscope-image.sock');
  const args = [
    'serve',
    '--listen',
    `unix://${socketPath}`,
    '--runtime-endpoint',
    `unix://${options.runtimeSocket}`,
    '--http-listen',
    '127.0.0.1:0',
    '--log-level',
    options.logLevel ?? 'debug',
    ...(options.imageSocket === undefined ? [] : ['--image-endpoint', `unix://${options.imageSocket}`, '--image-listen', `unix://${imageSocketPath}`]),
    ...configArgs,
    ...(options.extraArgs ?? []),
  ];
  const [executable, argv] = options.program === undefined ? [process.execPath, [MAIN, ...args]] : [options.program.executable, args];
  const child = spawn(executable, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env }, cwd: options.program?.cwd });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let httpUrl: string;
  try {
    httpUrl = await servingUrl(child, () => output, exited);
    const health = await fetch(`${httpUrl}/healthz`);
    if (!health.ok) throw new Error(`criscope /healthz answered ${health.status}`);
  } catch (error) {
    // A criscope that never served must not outlive the test: its pipes would keep the test process alive.
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return {
    socketPath,
    imageSocketPath,
    httpUrl,
    child,
    output: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
