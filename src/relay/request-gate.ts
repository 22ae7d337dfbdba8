import type { CriMethod } from '../cri/method-table.js';
import type { GateVerdict } from '../cri/policy-decision.js';

/**
 * Judges requests before they reach the runtime (policy). The relay holds a
 * judged call's message until the verdict: it then goes on, goes on
 * rewritten, or never reaches the runtime.
 */
export interface RequestGate {
  /**
   * False for the open gate, which judges nothing: calls then keep no request
   * for it, and a connection criscope can no longer read may go on unjudged.
   */
  readonly inForce: boolean;
  /**
   * A verdict on the call's path alone, when its headers arrive: a service
   * policy does not let through (a runtime's own API on the same socket).
   * Undefined for the calls that go on to be judged, or not, by method.
   */
  refuses(path: string): GateVerdict | undefined;
  /** Whether calls of this method are held for judgement (asked once per call, when its headers arrive). */
  holds(method: CriMethod): boolean;
  /**
   * Never rejects. `message` is the request's uncompressed payload, or
   * undefined with `unreadable` saying why there is none; `rewritable` is
   * false when part of it has already gone on, so a rewrite must become a denial.
   */
  judge(method: CriMethod, message: Buffer | undefined, unreadable: string | undefined, rewritable: boolean): Promise<GateVerdict>;
}

/** A verdict names the call's pod; the open gate never looks it up. */
const NO_POD = { namespace: '', name: '', uid: '', labels: {} };

/** The gate when no policy is in force: it refuses nothing, holds nothing, and lets through whatever it is asked about. */
export const OPEN_GATE: RequestGate = {
  inForce: false,
  refuses: () => undefined,
  holds: () => false,
  judge: (method) => Promise.resolve({ decision: { method: method.name, pod: NO_POD, findings: [], denial: undefined, clamps: [] }, rewritten: undefined }),
};

