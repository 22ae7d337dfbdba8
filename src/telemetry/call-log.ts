import type { CallObserver, CallRecord } from '../cri/call-record.js';
import type { Logger } from './logger.js';
import { grpcStatusName } from '../wire-codes.js';

/**
 * One structured line per call: at debug when it succeeds, at warn when it
 * fails or cannot be decoded. A call policy denied is the policy log's to
 * report (at info): here it is only a debug line.
 */
export class CallLog implements CallObserver {
  constructor(private readonly log: Logger) {}

  onCall(record: CallRecord): void {
    const failed = record.grpcStatus !== 0 && record.policy?.denial === undefined;
    if (!failed && !this.log.isLevelEnabled('debug')) return;
    const decodeError = record.decodeError;
    const line = {
      service: record.service,
      method: record.methodName,
      known: record.method !== undefined,
      code: record.grpcStatus === undefined ? undefined : grpcStatusName(record.grpcStatus),
      grpcMessage: record.grpcStatus !== 0 ? record.grpcMessage : undefined,
      resetCode: record.resetCode,
      byCriscope: record.answeredByCriscope || undefined,
      durationMs: Math.round(record.durationSeconds * 1e6) / 1e3,
      requestBytes: record.request.payloadBytes,
      responseBytes: record.response.payloadBytes,
      responseMessages: record.method?.serverStreaming === true ? record.response.messages : undefined,
      items: record.responseItems,
      ...record.identity,
    };
    if (decodeError !== undefined) this.log.warn({ ...line, err: decodeError }, 'call not decoded');
    else if (failed) this.log.warn(line, 'call failed');
    else this.log.debug(line, 'call');
  }
}
