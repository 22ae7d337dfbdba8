import type { PolicyRule, PolicySubject } from './types.js';
import type { PolicyDecision, PolicyFinding, ResourceClamp } from '../cri/policy-decision.js';

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
