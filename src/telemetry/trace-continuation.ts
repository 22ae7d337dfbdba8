import type { CallSpan } from '../cri/call-record.js';

/** Starts a call's span when its client sent a trace context, so the relay can give the runtime that span as parent. */
export interface TraceContinuation {
  /** Undefined when the call gets no span (an unreadable traceparent). */
  continueTrace(traceparent: string, tracestate: string | undefined): CallSpan | undefined;
}
