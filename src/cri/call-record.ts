import { DecodeError } from '../errors.js';
import { NOTHING_DECODED, decodeCall, type DecodedCall, type KeptMessage } from './decode-call.js';
import type { CriIdentity } from './method-specs.js';
import type { CriMethod } from './method-table.js';
import type { PolicyDecision } from './policy-decision.js';
import { GrpcStatus, grpcStatusOfReset, Http2ErrorCode } from '../wire-codes.js';

/** The two directions of a call, as the relay saw them. */
export interface CallTraffic extends KeptMessage {
  readonly messages: number;
  readonly payloadBytes: number;
  /** Why a first message that was wanted is not kept: larger than maxMessageBytes, or over the connection's keep budget. */
  readonly notKept?: 'too large' | 'over budget';
}

/**
 * A span started while its call was in flight, because the client sent a
 * trace context that criscope re-parented; whoever observes the record ends it.
 */
export interface CallSpan {
  /** The W3C traceparent that names this span as the runtime's parent. */
  readonly traceparent: string;
  end(record: CallRecord): void;
}

const MAX_GRPC_STATUS = GrpcStatus.UNAUTHENTICATED;
const OVER_BUDGET = "not kept for decoding: the connection's kept-bytes limit (maxKeptBytesPerConnection) was reached";
/** gRPC's timeout header: up to 8 digits and a unit. */
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_UNIT_SECONDS: Readonly<Record<string, number>> = { H: 3600, M: 60, S: 1, m: 1e-3, u: 1e-6, n: 1e-9 };

/** What the relay saw of one finished call: everything a record is made from, by name. */
export interface CallFacts {
  /** The HTTP/2 :path as the client sent it. */
  readonly path: string;
  /** Undefined for a method our proto does not describe (other API versions, newer RPCs). */
  readonly method: CriMethod | undefined;
  /** "runtime.v1.RuntimeService", also for methods the proto does not describe. */
  readonly service: string;
  /** The method name, also for methods the proto does not describe. */
  readonly methodName: string;
  /** performance.now() when the request headers arrived: the span's precise start. */
  readonly startTick: number;
  readonly durationSeconds: number;
  /** The grpc-status the client received; undefined when the stream was reset instead. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  /** The HTTP/2 RST_STREAM code when either side reset the stream. */
  readonly resetCode: number | undefined;
  /** True when the status was made by criscope rather than relayed from the runtime. */
  readonly answeredByCriscope: boolean;
  readonly request: CallTraffic;
  readonly response: CallTraffic;
  /** A compressed message that inflates past this is not decoded. */
  readonly maxDecodedBytes: number;
  readonly span: CallSpan | undefined;
  /** The request's grpc-timeout header, as sent. */
  readonly grpcTimeout: string | undefined;
  /** What policy decided, for the calls it judged. */
  readonly policy: PolicyDecision | undefined;
}

/**
 * One relayed call, typed: its facts, and what is read from them. Immutable.
 * Its messages are decoded on first read, so a call that no observer looks
 * into costs no decoding at all. Every record has the same shape (the facts
 * in one order, the readers on the prototype), so observers stay fast. The
 * facts are copied one by one: Object.assign's generic copy cost several
 * times as much, on every call.
 */
export class CallRecord implements CallFacts {
  readonly path: string;
  readonly method: CriMethod | undefined;
  readonly service: string;
  readonly methodName: string;
  readonly startTick: number;
  readonly durationSeconds: number;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  readonly resetCode: number | undefined;
  readonly answeredByCriscope: boolean;
  readonly request: CallTraffic;
  readonly response: CallTraffic;
  readonly maxDecodedBytes: number;
  readonly span: CallSpan | undefined;
  readonly grpcTimeout: string | undefined;
  readonly policy: PolicyDecision | undefined;
  #decoded: DecodedCall | undefined;

  constructor(facts: CallFacts) {
    this.path = facts.path;
    this.method = facts.method;
    this.service = facts.service;
    this.methodName = facts.methodName;
    this.startTick = facts.startTick;
    this.durationSeconds = facts.durationSeconds;
    this.grpcStatus = facts.grpcStatus;
    this.grpcMessage = facts.grpcMessage;
    this.resetCode = facts.resetCode;
    this.answeredByCriscope = facts.answeredByCriscope;
    this.request = facts.request;
    this.response = facts.response;
    this.maxDecodedBytes = facts.maxDecodedBytes;
    this.span = facts.span;
    this.grpcTimeout = facts.grpcTimeout;
    this.policy = facts.policy;
    Object.freeze(this);
  }

  /** The gRPC status the client ended up with: the one relayed, or the one a reset stands for. */
  get code(): number {
    return statusOf(this);
  }

  get endTick(): number {
    return this.startTick + this.durationSeconds * 1000;
  }

  get identity(): CriIdentity {
    return this.decode().identity;
  }

  /** The number of items in a list response. */
  get responseItems(): number | undefined {
    return this.decode().responseItems;
  }

  get decodeError(): DecodeError | undefined {
    return this.decode().error;
  }

  private decode(): DecodedCall {
    return (this.#decoded ??= decodeFacts(this));
  }
}

function statusOf(facts: CallFacts): number {
  const { grpcStatus, resetCode } = facts;
  // A status outside gRPC's codes (or unreadable) is UNKNOWN, as gRPC clients read it.
  if (grpcStatus !== undefined) return Number.isInteger(grpcStatus) && grpcStatus >= 0 && grpcStatus <= MAX_GRPC_STATUS ? grpcStatus : GrpcStatus.UNKNOWN;
  if (resetCode === Http2ErrorCode.CANCEL && reachedDeadline(facts)) return GrpcStatus.DEADLINE_EXCEEDED;
  if (resetCode !== undefined) return grpcStatusOfReset(resetCode);
  return GrpcStatus.UNKNOWN;
}

/** A client cancels a call whose deadline passed (RST_STREAM CANCEL) and reports DEADLINE_EXCEEDED itself. */
function reachedDeadline(facts: CallFacts): boolean {
  const match = facts.grpcTimeout === undefined ? null : GRPC_TIMEOUT.exec(facts.grpcTimeout);
  if (match === null) return false;
  const timeoutSeconds = Number(match[1]) * TIMEOUT_UNIT_SECONDS[match[2]];
  // The client's clock started a little before the request reached criscope.
  return facts.durationSeconds >= timeoutSeconds * 0.99;
}

function decodeFacts(facts: CallFacts): DecodedCall {
  const { method, request, response } = facts;
  if (method === undefined) return NOTHING_DECODED;
  const decoded = decodeCall(method, request, response, facts.maxDecodedBytes);
  // A message the record wanted but the connection's keep budget left out is a decode failure like any other: counted, and logged with why.
  if (decoded.error !== undefined) return decoded;
  if (method.keepsRequest && request.notKept === 'over budget') return { ...decoded, error: new DecodeError(method.path, 'request', OVER_BUDGET) };
  if (method.keepsResponse && response.notKept === 'over budget') return { ...decoded, error: new DecodeError(method.path, 'response', OVER_BUDGET) };
  return decoded;
}

/** Anything that wants to see finished calls: the log, metrics, spans. */
export interface CallObserver {
  onCall(record: CallRecord): void;
}

/** Hands each finished call to several observers, in order; one that fails does not keep the call from the others. */
export class CallObservers implements CallObserver {
  constructor(
    private readonly observers: readonly CallObserver[],
    private readonly onFailure: (error: unknown, record: CallRecord) => void,
  ) {}

  onCall(record: CallRecord): void {
    for (const observer of this.observers) {
      try {
        observer.onCall(record);
      } catch (error) {
        this.onFailure(error, record);
      }
    }
  }
}
