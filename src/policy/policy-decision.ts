import type { PodIdentity, PolicyAction, PolicyMode, PolicyRule, PolicySubject, ResourceClamp } from './types.js';

/** One violation found by one rule, as recorded in metrics, spans and logs. */
export interface PolicyFinding {
  /** "<rule>.<check>", e.g. "images.allowed"; a CEL rule's name alone. */
  readonly rule: string;
  readonly action: PolicyAction;
  /** audit: recorded only, the call went on unchanged. */
  readonly mode: PolicyMode;
  readonly reason: string;
}

/** What policy decided about one call. */
export interface PolicyDecision {
  readonly method: string;
  readonly pod: PodIdentity;
  readonly findings: readonly PolicyFinding[];
  /** Set when the call must not reach the runtime: the message the client (and the pod's events) will show. */
  readonly denial: string | undefined;
  /** The enforced clamps, when the request goes on rewritten (never together with a denial). */
  readonly clamps: readonly ResourceClamp[];
}

/** "criscope policy "images.allowed": image … is not …", the form kubelet shows in the pod's events. */
export function denialMessage(finding: PolicyFinding, others: number): string {
  const more = others > 0 ? ` (and ${others} more violation${others === 1 ? '' : 's'})` : '';
  return `criscope policy "${finding.rule}": ${finding.reason}${more}`;
}

function ruleId(rule: PolicyRule, check: string): string {
  return check === '' ? rule.name : `${rule.name}.${check}`;
}

/**
 * Runs every rule in scope over the subject and combines what they found:
 * any enforced deny denies the call; otherwise enforced clamps rewrite it;
 * audit findings are only recorded.
 */
export function decide(rules: readonly PolicyRule[], subject: PolicySubject): PolicyDecision {
  const findings: PolicyFinding[] = [];
  const clamps: ResourceClamp[] = [];
  let denied: PolicyFinding[] | undefined;
  for (const rule of rules) {
    if (!rule.scope.applies(subject.pod)) continue;
    for (const violation of rule.evaluate(subject)) {
      const finding: PolicyFinding = { rule: ruleId(rule, violation.check), action: violation.action, mode: rule.mode, reason: violation.reason };
      findings.push(finding);
      if (rule.mode !== 'enforce') continue;
      if (violation.action === 'deny') (denied ??= []).push(finding);
      else clamps.push(...(violation.clamps ?? []));
    }
  }
  const denial = denied === undefined ? undefined : denialMessage(denied[0], denied.length - 1);
  return { method: subject.method, pod: subject.pod, findings, denial, clamps: denial === undefined ? clamps : [] };
}
