import type { CallRecord } from '../../cri/call-record.js';
import { grpcStatusName } from '../../wire-codes.js';
import { isoTime } from './iso-time.js';
import type { PodName } from './pod-index.js';

/** The version of CallEntry's shape: a field removed or changing meaning raises it; new fields do not. */
export const CALL_ENTRY_VERSION = 1;

/** What policy decided about a call, as an entry shows it. */
export interface EntryPolicy {
  /** "denied", "clamped", or "audited" (findings recorded, the call went on unchanged). */
  readonly verdict: 'denied' | 'clamped' | 'audited';
  /** The first rule that found something ("images.allowed"). */
  readonly rule: string;
  readonly reason: string;
}

/** What an entry (finished or in flight) says of the pod, container and image a call concerns. */
export interface EntryIdentity {
  readonly podNamespace?: string;
  readonly podName?: string;
  readonly podUid?: string;
  readonly sandboxId?: string;
  readonly containerId?: string;
  readonly containerName?: string;
  readonly image?: string;
}

/**
 * One finished call as the flight recorder keeps it and the admin socket
 * streams it: plain JSON, versioned (`v`), with the pod's identity and
 * nothing secret (identity comes from the same projections as the logs).
 */
export interface CallEntry extends EntryIdentity {
  readonly v: typeof CALL_ENTRY_VERSION;
  /** When the request arrived, as an ISO 8601 UTC time with milliseconds. */
  readonly time: string;
  /** "runtime" or "image" for CRI's two services; the gRPC service name otherwise. */
  readonly service: string;
  readonly method: string;
  /** The gRPC status name ("OK", "NOT_FOUND", …), or RST(code) for a reset stream. */
  readonly status: string;
  readonly code: number;
  readonly message?: string;
  readonly durationMs: number;
  readonly exitCode?: number;
  /** A ContainerStatus answer's container state: "created", "running", "exited" or "unknown". */
  readonly containerState?: string;
  /** A ContainerStatus answer's short reason ("OOMKilled", "Completed"). */
  readonly reason?: string;
  readonly items?: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** True when criscope answered the call itself (the runtime was unreachable, or policy denied it). */
  readonly byCriscope?: boolean;
  readonly policy?: EntryPolicy;
  /** The trace the call's span belongs to, when the client sent a trace context. */
  readonly traceId?: string;
}

const SERVICE_NAMES: Readonly<Record<string, string>> = { 'runtime.v1.RuntimeService': 'runtime', 'runtime.v1.ImageService': 'image' };

/** runtime.v1 ContainerState, by number. */
const CONTAINER_STATES: readonly string[] = ['created', 'running', 'exited', 'unknown'];

/** "runtime" or "image" for CRI's two services, the full gRPC service name for any other. */
export function entryService(service: string): string {
  return SERVICE_NAMES[service] ?? service;
}

/** What an entry says of a call beyond the record's own fields: worked out once, for the entry and for the flight ring's record alike. */
export interface CallEntryFacts {
  /** When the request arrived, in milliseconds since the epoch. */
  readonly timeMs: number;
  readonly durationMs: number;
  readonly service: string;
  readonly message: string | undefined;
  readonly reason: string | undefined;
  readonly policy: EntryPolicy | undefined;
  readonly traceId: string | undefined;
}

export function callEntryFacts(record: CallRecord): CallEntryFacts {
  const traceparent = record.span?.traceparent;
  const reason = record.identity.reason;
  return {
    // From the wall clock now, not performance.timeOrigin: the node's clock may have been stepped since criscope started.
    timeMs: Date.now() - (performance.now() - record.startTick),
    durationMs: Math.round(record.durationSeconds * 1e6) / 1e3,
    service: entryService(record.service),
    message: record.code === 0 ? undefined : record.grpcMessage,
    reason: reason === '' ? undefined : reason,
    policy: entryPolicy(record),
    traceId: traceparent === undefined ? undefined : traceparent.slice(3, 35),
  };
}

/** A call's status as entries show it: the gRPC status name, or RST(code) for a stream reset with no status. */
export function entryStatus(code: number, hasGrpcStatus: boolean, resetCode: number | undefined): string {
  return !hasGrpcStatus && resetCode !== undefined ? `RST(${resetCode})` : grpcStatusName(code);
}

/** A runtime.v1 ContainerState as entries name it; a number beyond the enum is "unknown". */
export function containerStateName(state: number): string {
  return CONTAINER_STATES[state] ?? 'unknown';
}

/** The entry for a finished call; `pod`, when given, names the pod in place of the call's own identity (found from its ids). */
export function callEntry(record: CallRecord, facts = callEntryFacts(record), pod?: PodName): CallEntry {
  const identity = record.identity;
  const named = pod ?? identity;
  return {
    v: CALL_ENTRY_VERSION,
    time: isoTime(facts.timeMs),
    service: facts.service,
    method: record.methodName,
    status: entryStatus(record.code, record.grpcStatus !== undefined, record.resetCode),
    code: record.code,
    message: facts.message,
    durationMs: facts.durationMs,
    podNamespace: named.podNamespace,
    podName: named.podName,
    podUid: named.podUid,
    sandboxId: identity.sandboxId,
    containerId: identity.containerId,
    containerName: identity.containerName,
    image: identity.image,
    exitCode: identity.exitCode,
    containerState: identity.containerState === undefined ? undefined : containerStateName(identity.containerState),
    reason: facts.reason,
    items: record.responseItems,
    requestBytes: record.request.payloadBytes,
    responseBytes: record.response.payloadBytes,
    byCriscope: record.answeredByCriscope || undefined,
    policy: facts.policy,
    traceId: facts.traceId,
  };
}

function entryPolicy(record: CallRecord): EntryPolicy | undefined {
  const decision = record.policy;
  const first = decision?.findings[0];
  if (decision === undefined || first === undefined) return undefined;
  const verdict = decision.denial !== undefined ? 'denied' : decision.clamps.length > 0 ? 'clamped' : 'audited';
  return { verdict, rule: first.rule, reason: first.reason };
}
