import type { PodIdentity } from './pod-identity.js';

/*
 * What policy decides about a call, in the lowest room that needs it: the
 * call record carries it to telemetry, the relay acts on it, and policy
 * makes it.
 */

/** `enforce` denies or clamps; `audit` decides and records, and the call goes on unchanged. */
export type PolicyMode = 'enforce' | 'audit';

/** What a violation asks for under enforce. */
export type PolicyAction = 'deny' | 'clamp';

/** The LinuxContainerResources fields a clamp can rewrite, as named in the proto. */
export type ClampedField = 'cpu_period' | 'cpu_quota' | 'memory_limit_in_bytes';

/** One field of the request's resources rewritten down to a cap. */
export interface ResourceClamp {
  readonly field: ClampedField;
  readonly value: number;
}

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

/** What the gate decided about one request. */
export interface GateVerdict {
  readonly decision: PolicyDecision;
  /** The message to send instead (uncompressed), when the request was rewritten. */
  readonly rewritten: Buffer | undefined;
  /** What kept the gate from judging the request (a bug, not the request's fault): logged with its stack. */
  readonly failure?: unknown;
}
