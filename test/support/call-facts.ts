import type { CallFacts, CallTraffic } from '../../src/cri/call-record.js';
import type { CriMethod } from '../../src/cri/method-table.js';
import { criMethod } from './cri-client.js';

const NO_TRAFFIC: CallTraffic = { messages: 0, payloadBytes: 0, first: undefined, encoding: undefined };

/** The facts of a call of `method` (Version by default) that went by unremarkably: tests name only what they vary. */
export function callFacts(method: CriMethod = criMethod('Version')): CallFacts {
  return {
    path: method.path,
    method,
    service: method.service,
    methodName: method.name,
    startTick: 0,
    durationSeconds: 0.001,
    grpcStatus: 0,
    grpcMessage: undefined,
    resetCode: undefined,
    answeredByCriscope: false,
    request: NO_TRAFFIC,
    response: NO_TRAFFIC,
    maxDecodedBytes: 1024,
    span: undefined,
    grpcTimeout: undefined,
    policy: undefined,
  };
}
