import type { CallObserver, CallRecord } from '../cri/call-record.js';
import type { Logger } from './logger.js';

/**
 * One info line per policy finding (denials, clamps, and what audit mode
 * would have done), logged once, here: the call log leaves policy denials out.
 * Reasons name images, limits and paths, never environment values or credentials.
 */
export class PolicyLog implements CallObserver {
  constructor(private readonly log: Logger) {}

  onCall(record: CallRecord): void {
    const decision = record.policy;
    if (decision === undefined || decision.findings.length === 0) return;
    const { pod } = decision;
    for (const finding of decision.findings) {
      const outcome = finding.mode === 'audit' ? `would ${finding.action} (audit)` : finding.action === 'deny' ? 'denied' : 'clamped';
      this.log.info(
        { method: decision.method, namespace: pod.namespace, pod: pod.name, podUid: pod.uid, rule: finding.rule, action: finding.action, mode: finding.mode, reason: finding.reason },
        `policy ${outcome} a call`,
      );
    }
  }
}
