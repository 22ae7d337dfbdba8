import { Counter, Gauge, type Registry } from 'prom-client';
import type { CallObserver, CallRecord } from '../../cri/call-record.js';
import { FirstSeenValues, OTHER } from './label-values.js';
import type { PolicyDecision } from '../../cri/policy-decision.js';

/** Distinct namespaces a node gets series for; the rest are "other". */
const MAX_NAMESPACES = 64;
/** Distinct rule ids: the policy file names them, but a file can be replaced many times. */
const MAX_RULES = 128;
/** What policy did to a call, in one word. */
function resultOf(decision: PolicyDecision): 'allowed' | 'denied' | 'clamped' {
  if (decision.denial !== undefined) return 'denied';
  return decision.clamps.length > 0 ? 'clamped' : 'allowed';
}

/** Policy's decisions and the policy file's reloads, with bounded labels. */
export class PolicyMetrics implements CallObserver {
  private readonly judged: Counter<'method' | 'result'>;
  private readonly decisions: Counter<'rule' | 'action' | 'mode' | 'method' | 'namespace'>;
  private readonly reloads: Counter<'result'>;
  private readonly lastReloadOk: Gauge;
  private readonly rules: Gauge;
  private readonly namespaces = new FirstSeenValues(MAX_NAMESPACES);
  private readonly ruleIds = new FirstSeenValues(MAX_RULES);

  constructor(registry: Registry) {
    this.judged = new Counter({
      name: 'criscope_policy_judged_calls_total',
      help: 'Calls policy judged before they reached the runtime, by what it did: allowed, denied or clamped.',
      labelNames: ['method', 'result'],
      registers: [registry],
    });
    this.decisions = new Counter({
      name: 'criscope_policy_decisions_total',
      help: 'Violations found, by rule, action (deny or clamp) and mode (enforce, or audit: recorded only); rule "decode" counts requests policy could not read.',
      labelNames: ['rule', 'action', 'mode', 'method', 'namespace'],
      registers: [registry],
    });
    this.reloads = new Counter({
      name: 'criscope_policy_reloads_total',
      help: 'Policy file reloads (on change or SIGHUP): success, or failure (the policy in force stays).',
      labelNames: ['result'],
      registers: [registry],
    });
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    this.lastReloadOk = new Gauge({
      name: 'criscope_policy_last_reload_successful',
      help: '1 when the policy file as it is now is the policy in force; 0 after a reload failed.',
      registers: [registry],
    });
    this.rules = new Gauge({ name: 'criscope_policy_rules', help: 'Rules in the policy in force.', registers: [registry] });
  }

  /** The policy in force, after start or a successful reload. */
  loaded(rules: number, reload: boolean): void {
    if (reload) this.reloads.inc({ result: 'success' });
    this.lastReloadOk.set(1);
    this.rules.set(rules);
  }

  reloadFailed(): void {
    this.reloads.inc({ result: 'failure' });
    this.lastReloadOk.set(0);
  }

  onCall(record: CallRecord): void {
    const decision = record.policy;
    if (decision === undefined) return;
    const method = decision.method;
    this.judged.inc({ method, result: resultOf(decision) });
    for (const finding of decision.findings) {
      this.decisions.inc({
        rule: this.ruleIds.of(finding.rule),
        action: finding.action,
        mode: finding.mode,
        method,
        namespace: decision.pod.namespace === '' ? OTHER : this.namespaces.of(decision.pod.namespace),
      });
    }
  }
}
