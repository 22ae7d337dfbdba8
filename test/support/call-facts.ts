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

/** A finished call of `methodName` whose request and response are real messages, encoded from `request` and `response` as the proto reads them. */
export function decodedCallFacts(methodName: string, request: Record<string, unknown>, response: Record<string, unknown>): CallFacts {
  const method = criMethod(methodName);
  const traffic = (messageType: CriMethod['requestType'], body: Record<string, unknown>): CallTraffic => {
    const payload = Buffer.from(messageType.encode(messageType.fromObject(body)).finish());
    return { messages: 1, payloadBytes: payload.length, first: { compressed: false, payload }, encoding: undefined };
  };
  return { ...callFacts(method), request: traffic(method.requestType, request), response: traffic(method.responseType, response) };
}
