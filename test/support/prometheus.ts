import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's prometheus package (scripts/test-runtime/install.sh installs it) puts both here. */
export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
export const PROMTOOL_BINARY = '/usr/bin/promtool';

/** The envelope of every /api/v1 answer. */
export interface ApiAnswer<Data> {
  readonly status: 'success' | 'error';
  readonly data?: Data;
  readonly errorType?: string;
  readonly error?: string;
  readonly warnings?: readonly string[];
}

export interface Series {
  readonly metric: Readonly<Record<string, string>>;
}

/** The data of /api/v1/query (an instant vector, or a scalar/string sample) and of /api/v1/query_range (a matrix). */
export type QueryData =
  | { readonly resultType: 'vector' | 'matrix'; readonly result: readonly Series[] }
  | { readonly resultType: 'scalar' | 'string'; readonly result: readonly [number, string] };

export interface ScrapeTarget {
  readonly labels: Readonly<Record<string, string>>;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  /** When the last scrape started (RFC 3339). */
  readonly lastScrape: string;
}

export interface LoadedRule {
  readonly name: string;
  readonly query: string;
  readonly health: 'ok' | 'err' | 'unknown';
  readonly lastError?: string;
  readonly type: 'alerting' | 'recording';
  /** Alerting rules only. */
  readonly state?: 'inactive' | 'pending' | 'firing';
}

export interface LoadedRuleGroup {
  readonly name: string;
  readonly file: string;
  readonly rules: readonly LoadedRule[];
}

export interface PrometheusOptions {
  /** host:port of each target of the one scrape job. */
  readonly targets: readonly string[];
  readonly jobName: string;
  /** Rule files Prometheus loads (and so parses and evaluates). */
  readonly ruleFiles: readonly string[];
  /** Scrape and rule evaluation interval. */
  readonly intervalSeconds: number;
}

export interface PrometheusProcess {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** GET (or POST, for a long query) an /api/v1 path; resolves with the answer whatever its HTTP status, so errors can be reported. */
  request<Data>(path: string, parameters?: Readonly<Record<string, string>>): Promise<ApiAnswer<Data>>;
  /** Everything Prometheus has written to stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s; removes its storage. Resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** A loopback port free right now (Prometheus cannot report a kernel-chosen one). */
async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP address for the port probe');
  return address.port;
}

function prometheusConfig(options: PrometheusOptions): string {
  // JSON strings are YAML strings: paths and addresses need no further quoting.
  const interval = `${options.intervalSeconds}s`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    `rule_files: ${JSON.stringify(options.ruleFiles)}`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(options.jobName)}`,
    '    static_configs:',
    `      - targets: ${JSON.stringify(options.targets)}`,
    '',
  ].join('\n');
}

/**
 * Starts the real Prometheus server on a free loopback port, with a config and
 * storage in a fresh temp dir, and waits until /-/ready answers 200 and each
 * target has been scraped once (and is up).
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'criscope-prometheus-'));
  const configFile = join(directory, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(options));
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    PROMETHEUS_BINARY,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(directory, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const spawnFailure = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(killTimer);
    rmSync(directory, { recursive: true, force: true });
    return code;
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    const failed = await Promise.race([spawnFailure, new Promise<undefined>((resolve) => setTimeout(resolve, 100, undefined))]);
    if (failed !== undefined) {
      rmSync(directory, { recursive: true, force: true });
      throw new Error(`cannot run ${PROMETHEUS_BINARY} (run scripts/test-runtime/install.sh): ${failed.message}`);
    }
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode} during startup:\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${url} within 30 s:\n${output}`);
    }
  }

  const request = async <Data>(path: string, parameters: Readonly<Record<string, string>> = {}): Promise<ApiAnswer<Data>> => {
    // A form POST keeps long PromQL out of the URL; the query endpoints accept both.
    const form = new URLSearchParams(parameters);
    const response =
      path === '/api/v1/query' || path === '/api/v1/query_range'
        ? await fetch(`${url}${path}`, { method: 'POST', body: form })
        : await fetch(form.size === 0 ? `${url}${path}` : `${url}${path}?${form.toString()}`);
    return (await response.json()) as ApiAnswer<Data>;
  };

  // Prometheus applies its targets on a 5 s tick after start: wait for the first scrape of each,
  // so that what happens from now on is scraped.
  let targets: readonly ScrapeTarget[] = [];
  const scrapedDeadline = Date.now() + 30_000;
  for (;;) {
    targets = (await request<{ activeTargets: readonly ScrapeTarget[] }>('/api/v1/targets')).data?.activeTargets ?? [];
    if (targets.length === options.targets.length && targets.every((target) => target.health === 'up')) break;
    if (Date.now() > scrapedDeadline) {
      await stop();
      throw new Error(`prometheus did not scrape every target within 30 s: ${JSON.stringify(targets)}\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    request,
    output: () => output,
    stop,
  };
}

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

/** Runs promtool to completion (check rules, test rules, …). */
export function runPromtool(args: readonly string[], cwd?: string): PromtoolResult {
  const result = spawnSync(PROMTOOL_BINARY, args, { encoding: 'utf8', timeout: 60_000, cwd });
  if (result.error !== undefined) throw new Error(`cannot run ${PROMTOOL_BINARY} (run scripts/test-runtime/install.sh): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
