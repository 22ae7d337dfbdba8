import type { CriMethod } from '../cri/method-table.js';
import type { PolicyDecision } from '../policy/policy-decision.js';

/** What the gate decided about one request. */
export interface GateVerdict {
  readonly decision: PolicyDecision;
  /** The message to send instead (uncompressed), when the request was rewritten. */
  readonly rewritten: Buffer | undefined;
}

/**
 * Judges requests before they reach the runtime (policy). The relay holds a
 * judged call's message until the verdict: it then goes on, goes on
 * rewritten, or never reaches the runtime.
 */
export interface RequestGate {
  /** Whether calls of this method are held for judgement (asked once per call, when its headers arrive). */
  holds(method: CriMethod): boolean;
  /**
   * Never rejects. `message` is the request's uncompressed payload, or
   * undefined with `unreadable` saying why there is none; `rewritable` is
   * false when part of it has already gone on, so a rewrite must become a denial.
   */
  judge(method: CriMethod, message: Buffer | undefined, unreadable: string | undefined, rewritable: boolean): Promise<GateVerdict>;
}
