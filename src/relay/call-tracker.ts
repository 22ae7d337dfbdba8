import { CallRecord, type CallObserver, type CallSpan, type CallTraffic } from '../cri/call-record.js';
import { decodeCall } from '../cri/decode-call.js';
import type { CriIdentity } from '../cri/method-specs.js';
import { serviceOfPath, type CriMethod, type MethodTable } from '../cri/method-table.js';
import type { CallInFlight } from '../telemetry/call-in-flight.js';
import type { TraceContinuation } from '../telemetry/trace-continuation.js';
import type { Logger } from '../telemetry/logger.js';
import { GrpcMessageScanner } from './grpc-frames.js';
import { StreamTable } from './stream-table.js';
import type { KeepBudget } from './keep-budget.js';
import { decodeGrpcMessage, encodeGrpcMessage } from './grpc-message.js';
import type { HeldRequest } from './held-request.js';
import type { RequestGate } from './request-gate.js';
import type { PolicyDecision } from '../cri/policy-decision.js';

/** What every connection's tracker shares: built once by the relay server. */
export interface TrackingContext {
  readonly table: MethodTable;
  readonly observer: CallObserver;
  /** Messages up to this size are kept for decoding; larger ones are only counted. */
  readonly keepMessagesUpTo: number;
  /** What each connection may keep for decoding at once (see KeepBudget); past it, messages are only counted. */
  readonly maxKeptBytesPerConnection: number;
  readonly log: Logger;
  /** Present when tracing is on: request header blocks with a traceparent are then re-parented. */
  readonly traceContinuation?: TraceContinuation;
  /** The policy in force (the calls it judges are held until judged), or the open gate. */
  readonly gate: RequestGate;
}

/** What a call's request headers say that its tracking needs. */
export interface RequestHeaders {
  /** The :path, empty when the client sent none. */
  readonly path: string;
  /** grpc-encoding */
  readonly encoding: string | undefined;
  /** grpc-timeout */
  readonly grpcTimeout: string | undefined;
}

/** One call in flight on a connection, as far as its frames have shown it. */
export class TrackedCall implements CallInFlight {
  readonly startedTick = performance.now();
  readonly method: CriMethod | undefined;
  /** With a policy in force, the method policy judges this call as (also for runtime.v1alpha2 paths). */
  readonly judgedAs: CriMethod | undefined;
  readonly requestScanner: GrpcMessageScanner;
  readonly responseScanner: GrpcMessageScanner;
  responseHeadersSeen = false;
  responseEncoding: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  resetCode: number | undefined;
  answeredByCriscope = false;
  span: CallSpan | undefined;
  /** The request's DATA frames while the gate judges them. */
  held: HeldRequest | undefined;
  policy: PolicyDecision | undefined;
  /** performance.now() when the call ended (its record is made a little later). */
  endedTick = 0;

  private readonly keep: number;

  readonly path: string;
  readonly requestEncoding: string | undefined;
  private readonly grpcTimeout: string | undefined;

  constructor(request: RequestHeaders, context: TrackingContext, budget: KeepBudget) {
    const { path } = request;
    this.path = path;
    this.requestEncoding = request.encoding;
    this.grpcTimeout = request.grpcTimeout;
    const method = context.table.lookup(path);
    this.method = method;
    const keep = context.keepMessagesUpTo;
    this.keep = keep;
    this.judgedAs = context.gate.inForce ? context.table.judgedAs(path) : undefined;
    this.requestScanner = new GrpcMessageScanner(method?.keepsRequest === true || this.judgedAs !== undefined ? keep : 0, budget);
    this.responseScanner = new GrpcMessageScanner(method?.keepsResponse === true ? keep : 0, budget, method?.keepsResponse === true ? method.responseItemsField : undefined);
  }

  /** Gives what this call keeps back to the connection's budget: it gets no more bytes. */
  releaseKept(): void {
    this.requestScanner.release();
    this.responseScanner.release();
  }

  get serverStreaming(): boolean {
    return this.method?.serverStreaming ?? false;
  }

  /** "runtime.v1.RuntimeService", also for a method our proto does not describe. */
  get service(): string {
    return this.method?.service ?? serviceOfPath(this.path);
  }

  get methodName(): string {
    return this.method?.name ?? this.path.slice(this.service.length + 2);
  }

  get responseMessages(): number {
    return this.responseScanner.messages;
  }

  requestIdentity(): CriIdentity | undefined {
    const { method, requestScanner } = this;
    if (method === undefined || requestScanner.first === undefined) return undefined;
    const decoded = decodeCall(method, { first: requestScanner.first, encoding: this.requestEncoding }, undefined, this.keep);
    return decoded.error === undefined ? decoded.identity : undefined;
  }

  record(): CallRecord {
    return new CallRecord({
      path: this.path,
      method: this.method,
      service: this.service,
      methodName: this.methodName,
      startTick: this.startedTick,
      durationSeconds: (this.endedTick - this.startedTick) / 1000,
      grpcStatus: this.grpcStatus === undefined ? undefined : Number(this.grpcStatus),
      grpcMessage: this.grpcMessage === undefined ? undefined : decodeGrpcMessage(this.grpcMessage),
      resetCode: this.resetCode,
      answeredByCriscope: this.answeredByCriscope,
      request: traffic(this.requestScanner, this.requestEncoding),
      response: traffic(this.responseScanner, this.responseEncoding),
      maxDecodedBytes: this.keep,
      span: this.span,
      grpcTimeout: this.grpcTimeout,
      policy: this.policy,
    });
  }
}

function traffic(scanner: GrpcMessageScanner, encoding: string | undefined): CallTraffic {
  return { messages: scanner.messages, payloadBytes: scanner.payloadBytes, first: scanner.first, itemsCounted: scanner.firstCounted, notKept: scanner.notKept, encoding };
}

/** The index of the first field called `name` in a decoded header list ([name, value, …]), or -1. */
export function headerIndex(fields: readonly string[], name: string): number {
  for (let index = 0; index < fields.length; index += 2) {
    if (fields[index] === name) return index;
  }
  return -1;
}

/** The value of the first field called `name` in a decoded header list. */
export function headerValue(fields: readonly string[], name: string): string | undefined {
  const index = headerIndex(fields, name);
  return index < 0 ? undefined : fields[index + 1];
}

/**
 * The calls of one connection, keyed by stream id, fed by the frames the relay
 * passes through. A call ends when its response ends or either side resets it.
 * Its record goes to the observer on the next turn of the event loop, after the
 * frames that ended it have been written on: decoding and logging never delay
 * the answer. What a call kept for decoding counts against the connection's
 * keep budget until its record is handed over.
 */
export class CallTracker {
  private readonly calls = new StreamTable<TrackedCall>();
  private finished: TrackedCall[] = [];

  constructor(
    private readonly context: TrackingContext,
    /** This connection's: what its calls may keep for decoding at once. */
    private readonly budget: KeepBudget,
    /** Called after a call ends, when the connection may have become idle. */
    private readonly onCallEnded: (call: TrackedCall) => void,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  get(streamId: number): TrackedCall | undefined {
    return this.calls.get(streamId);
  }

  /** The calls in flight, oldest first: a copy. */
  values(): TrackedCall[] {
    return this.calls.valuesById();
  }

  /** A snapshot, safe to iterate while calls end. */
  entries(): [number, TrackedCall][] {
    return this.calls.entries();
  }

  /** Stops following every call, without records (the connection can no longer be read). */
  forgetAll(): void {
    for (const call of this.calls.valuesById()) call.releaseKept();
    this.calls.clear();
  }

  /**
   * A request header block: a new call, returned (or, on a known stream,
   * request trailers, which gRPC unary calls never send: undefined).
   */
  requestHeaders(streamId: number, fields: readonly string[]): TrackedCall | undefined {
    if (this.calls.has(streamId)) return undefined;
    const call = new TrackedCall({ path: headerValue(fields, ':path') ?? '', encoding: headerValue(fields, 'grpc-encoding'), grpcTimeout: headerValue(fields, 'grpc-timeout') }, this.context, this.budget);
    this.calls.set(streamId, call);
    return call;
  }

  /** Response headers, or trailers once headers were seen; `endStream` ends the call. */
  responseHeaders(streamId: number, fields: readonly string[], endStream: boolean): void {
    const call = this.calls.get(streamId);
    if (call === undefined) return;
    if (!call.responseHeadersSeen) {
      call.responseHeadersSeen = true;
      call.responseEncoding = headerValue(fields, 'grpc-encoding');
    }
    const status = headerValue(fields, 'grpc-status');
    if (status !== undefined) {
      call.grpcStatus = status;
      call.grpcMessage = headerValue(fields, 'grpc-message');
    }
    if (endStream) this.finish(streamId, call);
  }

  /** The response ended with a DATA frame (no trailers): not gRPC, but a call all the same. */
  responseEnded(streamId: number): void {
    const call = this.calls.get(streamId);
    if (call !== undefined) this.finish(streamId, call);
  }

  reset(streamId: number, code: number): void {
    const call = this.calls.get(streamId);
    if (call === undefined) return;
    call.resetCode = code;
    this.finish(streamId, call);
  }

  /** Ends a call with criscope's own status (the runtime could not answer it). */
  answered(streamId: number, status: number, message: string): void {
    const call = this.calls.get(streamId);
    if (call === undefined) return;
    call.answeredByCriscope = true;
    call.grpcStatus = String(status);
    call.grpcMessage = encodeGrpcMessage(message);
    this.finish(streamId, call);
  }

  private finish(streamId: number, call: TrackedCall): void {
    call.endedTick = performance.now();
    this.calls.delete(streamId);
    if (this.finished.push(call) === 1) setImmediate(this.report);
    this.onCallEnded(call);
  }

  private readonly report = (): void => {
    const calls = this.finished;
    this.finished = [];
    for (const call of calls) {
      try {
        this.context.observer.onCall(call.record());
      } catch (error) {
        this.context.log.error({ err: error, path: call.path }, 'a call observer failed');
      } finally {
        call.releaseKept();
      }
    }
  };
}
