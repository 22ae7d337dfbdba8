import { SpanKind, SpanStatusCode, type Attributes, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { CallObserver, CallRecord, CallSpan } from '../../cri/call-record.js';
import type { CriIdentity } from '../../cri/method-specs.js';
import type { PodStart, PodStartListener, PodStartResult, PodStarts } from '../pod-starts.js';
import type { TraceContinuation } from '../trace-continuation.js';
import * as semconv from './semconv.js';
import type { RpcConventions } from './semconv.js';
import type { SpanEvent, SpanMaker, StartedSpan } from './span-maker.js';
import { parseTraceparent, type TraceParent } from './trace-context.js';
import type { PolicyDecision } from '../../cri/policy-decision.js';
import { GrpcStatus, grpcStatusName } from '../../wire-codes.js';

/** The statuses that make a server span an error, per the OpenTelemetry RPC conventions for gRPC servers. */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.UNIMPLEMENTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DATA_LOSS,
]);

const POD_START_SPAN_NAME = 'PodStart';

/** A span named as kubelet, containerd and CRI-O name theirs: the path without its leading slash. */
function spanName(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}

/** container.image.name without tag or digest, and the tag or digest apart, as the container conventions split them. */
function imageAttributes(image: string, attributes: Attributes): void {
  const at = image.indexOf('@');
  if (at >= 0) {
    attributes[semconv.ATTR_CONTAINER_IMAGE_NAME] = image.slice(0, at);
    attributes[semconv.ATTR_CONTAINER_IMAGE_REPO_DIGESTS] = [image];
    return;
  }
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/')) {
    attributes[semconv.ATTR_CONTAINER_IMAGE_NAME] = image.slice(0, colon);
    attributes[semconv.ATTR_CONTAINER_IMAGE_TAGS] = [image.slice(colon + 1)];
  } else {
    attributes[semconv.ATTR_CONTAINER_IMAGE_NAME] = image;
  }
}

function identityAttributes(identity: CriIdentity, podStart: PodStart | undefined, attributes: Attributes): void {
  const podName = identity.podName ?? podStart?.name;
  const podUid = identity.podUid ?? podStart?.uid;
  const namespace = identity.podNamespace ?? podStart?.namespace;
  const sandboxId = identity.sandboxId ?? podStart?.sandboxId;
  if (podName !== undefined) attributes[semconv.ATTR_K8S_POD_NAME] = podName;
  if (podUid !== undefined) attributes[semconv.ATTR_K8S_POD_UID] = podUid;
  if (namespace !== undefined) attributes[semconv.ATTR_K8S_NAMESPACE_NAME] = namespace;
  if (sandboxId !== undefined) attributes[semconv.ATTR_SANDBOX_ID] = sandboxId;
  if (identity.containerName !== undefined) attributes[semconv.ATTR_K8S_CONTAINER_NAME] = identity.containerName;
  if (identity.containerId !== undefined) attributes[semconv.ATTR_CONTAINER_ID] = identity.containerId;
  if (identity.image !== undefined) imageAttributes(identity.image, attributes);
}


/** Where a continued span sits: the client's trace context, and the span id criscope chose for it. */
interface ContinuedPlace {
  readonly parent: TraceParent;
  readonly tracestate: string | undefined;
  readonly spanId: string;
  /** The W3C traceparent that names this span as the runtime's parent. */
  readonly traceparent: string;
}

/**
 * The span of a call that came with a trace context: its id is chosen (and
 * given to the runtime) when the request passes, the span is made when the
 * call has ended, off the relay's path.
 */
class ContinuedSpan implements CallSpan {
  readonly parent: TraceParent;
  readonly tracestate: string | undefined;
  readonly spanId: string;
  readonly traceparent: string;

  constructor(
    place: ContinuedPlace,
    private readonly make: (continued: ContinuedSpan, record: CallRecord) => void,
  ) {
    this.parent = place.parent;
    this.tracestate = place.tracestate;
    this.spanId = place.spanId;
    this.traceparent = place.traceparent;
  }

  end(record: CallRecord): void {
    this.make(this, record);
  }
}

/**
 * One SERVER span per CRI call, as kubelet sees the call. A call that came
 * with a trace context continues it (its span id was chosen by the relay,
 * which gave the runtime this span as parent). A call without one, if it
 * belongs to a pod start, joins that pod start's own trace, under one root
 * span per pod start; any other call is a trace of its own. Every span is
 * made once what it stands for has ended (SpanMaker).
 */
export class CallSpans implements CallObserver, PodStartListener, TraceContinuation {
  /** Open pod starts' root spans; each leaves when its pod start ends. */
  private readonly roots = new Map<PodStart, StartedSpan>();

  constructor(
    private readonly spans: SpanMaker,
    private readonly podStarts: PodStarts,
    private readonly conventions: RpcConventions,
  ) {}

  /**
   * On the relay's path, so only what the runtime must see now: a span id of
   * criscope's, and the client's sampled flag, which is what the parent-based
   * sampler decides for a call with a parent (all other flags pass as sent).
   */
  readonly continueTrace = (traceparent: string, tracestate: string | undefined): CallSpan | undefined => {
    const parent = parseTraceparent(traceparent);
    if (parent === undefined) return undefined;
    const spanId = this.spans.newSpanId();
    const flags = parent.traceFlags.toString(16).padStart(2, '0');
    return new ContinuedSpan({ parent, tracestate, spanId, traceparent: `00-${parent.traceId}-${spanId}-${flags}` }, this.makeContinued);
  };

  onCall(record: CallRecord): void {
    if (record.span !== undefined) {
      record.span.end(record);
      return;
    }
    const podStart = this.podStarts.startOf(record);
    let parent: SpanContext | undefined;
    if (podStart !== undefined) {
      const root = this.roots.get(podStart) ?? (record.method?.podStartStep === 'run-sandbox' ? this.openRoot(podStart) : undefined);
      parent = root?.context;
    }
    this.finish(this.spans.start(spanName(record.path), SpanKind.SERVER, record.startTick, parent), record);
  }

  podStartEnded(start: PodStart, result: PodStartResult, endTick: number): void {
    const root = this.roots.get(start);
    if (root === undefined) return;
    this.roots.delete(start);
    const attributes: Attributes = {
      [semconv.ATTR_POD_START_RESULT]: result,
      [semconv.ATTR_POD_START_CONTAINERS]: start.containersStarted,
      [semconv.ATTR_POD_START_FAILED_CALLS]: start.failedCalls,
    };
    if (start.sandboxId !== undefined) attributes[semconv.ATTR_SANDBOX_ID] = start.sandboxId;
    if (result === 'started') {
      this.spans.end(root, endTick, { attributes, keep: false });
      return;
    }
    const message = result === 'stopped' ? 'the pod was stopped before its containers started' : 'the pod start did not finish in time';
    this.spans.end(root, endTick, { attributes, status: { code: SpanStatusCode.ERROR, message }, keep: true });
  }

  /** The span of a call that came with a trace context, under the client's span, with the id the runtime was given. */
  private readonly makeContinued = (continued: ContinuedSpan, record: CallRecord): void => {
    const { traceId, spanId, traceFlags } = continued.parent;
    const parent: SpanContext = { traceId, spanId, traceFlags, isRemote: true };
    if (continued.tracestate !== undefined) parent.traceState = new TraceState(continued.tracestate);
    this.finish(this.spans.start(spanName(record.path), SpanKind.SERVER, record.startTick, parent, continued.spanId), record);
  };

  /** criscope is stopping: pod starts still open are exported as they stand, marked interrupted. */
  endOpenRoots(): void {
    for (const [start, root] of this.roots) {
      const attributes: Attributes = { [semconv.ATTR_POD_START_RESULT]: 'interrupted', [semconv.ATTR_POD_START_CONTAINERS]: start.containersStarted };
      this.spans.end(root, undefined, { attributes, keep: false });
    }
    this.roots.clear();
  }

  /** The root of a pod start's trace, opened when its RunPodSandbox call is recorded (back-dated to its start). */
  private openRoot(start: PodStart): StartedSpan {
    const attributes: Attributes = { [semconv.ATTR_K8S_POD_UID]: start.uid };
    if (start.name !== undefined) attributes[semconv.ATTR_K8S_POD_NAME] = start.name;
    if (start.namespace !== undefined) attributes[semconv.ATTR_K8S_NAMESPACE_NAME] = start.namespace;
    const root = this.spans.start(POD_START_SPAN_NAME, SpanKind.INTERNAL, start.startTick, undefined, undefined, attributes);
    this.roots.set(start, root);
    return root;
  }

  /** Sets a call span's attributes, status and policy events from its record, and ends it when the call ended. */
  private finish(span: StartedSpan, record: CallRecord): void {
    const code = record.code;
    const policy = record.policy;
    const policyResult = policy === undefined ? undefined : policyResultOf(policy);
    // Every failed call is exported, sampled or not: it is what an operator opens a trace for; so is a clamped one.
    const keep = code !== GrpcStatus.OK || policyResult === 'clamped';
    if (!this.spans.exports(span, keep)) return;
    const attributes: Attributes = {};
    if (this.conventions.old) {
      attributes[semconv.ATTR_RPC_SYSTEM] = 'grpc';
      attributes[semconv.ATTR_RPC_SERVICE] = record.service;
      attributes[semconv.ATTR_RPC_METHOD] = record.methodName;
      attributes[semconv.ATTR_RPC_GRPC_STATUS_CODE] = code;
    }
    const serverError = SERVER_ERROR_CODES.has(code);
    if (this.conventions.stable) {
      attributes[semconv.ATTR_RPC_SYSTEM_NAME] = 'grpc';
      attributes[semconv.ATTR_RPC_METHOD] = `${record.service}/${record.methodName}`;
      attributes[semconv.ATTR_RPC_RESPONSE_STATUS_CODE] = grpcStatusName(code);
      if (serverError) attributes[semconv.ATTR_ERROR_TYPE] = grpcStatusName(code);
    }
    identityAttributes(record.identity, this.podStarts.startOf(record), attributes);
    if (record.method?.serverStreaming === true) attributes[semconv.ATTR_STREAM_MESSAGES] = record.response.messages;
    if (record.answeredByCriscope) attributes[semconv.ATTR_ANSWERED_BY_CRISCOPE] = true;
    let events: SpanEvent[] | undefined;
    if (policy !== undefined && policyResult !== undefined) {
      attributes[semconv.ATTR_POLICY_RESULT] = policyResult;
      events = policyEvents(policy, record.startTick);
    }
    const status: SpanStatus | undefined = serverError ? { code: SpanStatusCode.ERROR, message: record.grpcMessage ?? grpcStatusName(code) } : undefined;
    this.spans.end(span, record.endTick, { attributes, status, events, keep });
  }
}

/** What policy did to a call, as its span says it. */
function policyResultOf(decision: PolicyDecision): 'denied' | 'clamped' | 'allowed' {
  return decision.denial !== undefined ? 'denied' : decision.clamps.length > 0 ? 'clamped' : 'allowed';
}

/** One event per violation policy found, with its rule and reason, at the call's start. */
function policyEvents(decision: PolicyDecision, tick: number): SpanEvent[] {
  return decision.findings.map((finding) => ({
    name: semconv.EVENT_POLICY_VIOLATION,
    attributes: {
      [semconv.ATTR_POLICY_RULE]: finding.rule,
      [semconv.ATTR_POLICY_ACTION]: finding.action,
      [semconv.ATTR_POLICY_MODE]: finding.mode,
      [semconv.ATTR_POLICY_REASON]: finding.reason,
    },
    tick,
  }));
}
