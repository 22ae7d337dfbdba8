import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { loadPolicy } from '../config/load-policy.js';
import type { PolicyEngine } from '../policy/policy-engine.js';
import type { Logger } from '../telemetry/logger.js';
import type { PolicyMetrics } from '../telemetry/metrics/policy-metrics.js';

/** Editors and ConfigMap updates change a file in several steps: reload once they are done. */
const SETTLE_MS = 200;

/**
 * Keeps the policy in force in step with its file: reloaded when the file
 * changes and on SIGHUP. A file that no longer loads leaves the old policy in
 * force; the failure is logged with the path and reason and shows in
 * criscope_policy_last_reload_successful. Calls are never dropped: a call
 * being judged finishes under the policy it started with.
 */
export class PolicyReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loadedText: string | undefined;

  constructor(
    private readonly path: string,
    private readonly engine: PolicyEngine,
    private readonly metrics: PolicyMetrics,
    private readonly log: Logger,
  ) {
    this.loadedText = this.readText();
    metrics.loaded(engine.policy.rules.length, false);
  }

  /** Watches the file's directory: a ConfigMap update, or an editor's save, replaces the file rather than writing it. */
  start(): void {
    try {
      this.watcher = watch(dirname(this.path), () => this.scheduleReload());
      this.watcher.on('error', (error) => this.log.warn({ path: this.path, err: error }, 'cannot watch the policy file; reload it with SIGHUP'));
    } catch (error) {
      this.log.warn({ path: this.path, err: error }, 'cannot watch the policy file; reload it with SIGHUP');
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** Loads the file now; `force` reloads it even if its text has not changed (SIGHUP). */
  reload(force: boolean): void {
    const text = this.readText();
    if (!force && text === this.loadedText) return;
    try {
      const policy = loadPolicy(this.path);
      this.engine.replace(policy);
      this.loadedText = text;
      this.metrics.loaded(policy.rules.length, true);
      this.log.info({ path: this.path, rules: policy.rules.length, mode: policy.mode }, 'policy reloaded');
    } catch (error) {
      this.loadedText = text;
      this.metrics.reloadFailed();
      this.log.error({ path: this.path, err: error }, 'policy reload failed; the policy in force stays');
    }
  }

  private scheduleReload(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(false), SETTLE_MS);
  }

  private readText(): string | undefined {
    try {
      return readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
  }
}
