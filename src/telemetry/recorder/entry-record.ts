import type { CallRecord } from '../../cri/call-record.js';
import { CALL_ENTRY_VERSION, containerStateName, entryStatus, type CallEntry, type CallEntryFacts, type EntryPolicy } from './call-entry.js';
import type { FlightRing } from './flight-ring.js';
import { isoTime } from './iso-time.js';
import type { PodName } from './pod-index.js';

/*
 * A finished call as the flight ring keeps it: the facts an entry is made of,
 * written as bytes when the call ends, and made into a CallEntry only when
 * someone reads the ring (a dump, `tail --since`, `why`). Writing costs a
 * few copies; no object, string or date is made for a call nobody reads.
 *
 * Layout, little-endian: the fixed part (FIXED_BYTES), then each string, in
 * the order keepCall lists them, as a 16-bit length and its UTF-8 bytes
 * (ABSENT for undefined).
 */

const ABSENT = 0xffff;
/** Longer strings (a runtime's error message, in practice) are cut to this many characters, so every length fits 16 bits. */
export const MAX_STRING_CHARS = 16_000;
/** What one character can take in UTF-8 (JavaScript strings are UTF-16: a surrogate pair makes 4 bytes from 2 characters). */
const MAX_BYTES_PER_CHAR = 3;

const TIME = 0;
const DURATION_MS = 8;
const REQUEST_BYTES = 16;
const RESPONSE_BYTES = 24;
const ITEMS = 32;
const EXIT_CODE = 36;
const RESET_CODE = 40;
const CODE = 44;
const CONTAINER_STATE = 45;
const PRESENCE = 46;
const FIXED_BYTES = 47;

/** Which of the optional numbers and flags a record carries. */
const enum Has {
  Items = 1,
  ExitCode = 2,
  ContainerState = 4,
  GrpcStatus = 8,
  ByCriscope = 16,
  ResetCode = 32,
}

/** Writes one finished call into the ring; `pod` is the pod the recorder's index found for a call that names none itself. */
export function keepCall(ring: FlightRing, record: CallRecord, facts: CallEntryFacts, pod: PodName | undefined): void {
  const identity = record.identity;
  const policy = facts.policy;
  const strings: (string | undefined)[] = [
    facts.service,
    record.methodName,
    facts.message,
    pod === undefined ? identity.podNamespace : pod.podNamespace,
    pod === undefined ? identity.podName : pod.podName,
    pod === undefined ? identity.podUid : pod.podUid,
    identity.sandboxId,
    identity.containerId,
    identity.containerName,
    identity.image,
    facts.reason,
    policy?.verdict,
    policy?.rule,
    policy?.reason,
    facts.traceId,
  ];
  let chars = 0;
  for (const value of strings) if (value !== undefined) chars += Math.min(value.length, MAX_STRING_CHARS);
  const slot = ring.reserve(FIXED_BYTES + strings.length * 2 + chars * MAX_BYTES_PER_CHAR);
  if (slot === undefined) return;
  const { buffer, offset } = slot;
  let presence = 0;
  buffer.writeDoubleLE(facts.timeMs, offset + TIME);
  buffer.writeDoubleLE(facts.durationMs, offset + DURATION_MS);
  buffer.writeDoubleLE(record.request.payloadBytes, offset + REQUEST_BYTES);
  buffer.writeDoubleLE(record.response.payloadBytes, offset + RESPONSE_BYTES);
  const items = record.responseItems;
  if (items !== undefined) {
    presence |= Has.Items;
    buffer.writeUInt32LE(items, offset + ITEMS);
  }
  if (identity.exitCode !== undefined) {
    presence |= Has.ExitCode;
    buffer.writeInt32LE(identity.exitCode, offset + EXIT_CODE);
  }
  if (record.resetCode !== undefined) {
    presence |= Has.ResetCode;
    buffer.writeUInt32LE(record.resetCode, offset + RESET_CODE);
  }
  buffer[offset + CODE] = record.code;
  if (identity.containerState !== undefined) {
    presence |= Has.ContainerState;
    buffer[offset + CONTAINER_STATE] = Math.min(identity.containerState, 255);
  }
  if (record.grpcStatus !== undefined) presence |= Has.GrpcStatus;
  if (record.answeredByCriscope) presence |= Has.ByCriscope;
  buffer[offset + PRESENCE] = presence;
  let at = offset + FIXED_BYTES;
  for (const value of strings) at = writeString(buffer, at, value);
  ring.commit(at - offset);
}

function writeString(buffer: Buffer, at: number, value: string | undefined): number {
  if (value === undefined) {
    buffer.writeUInt16LE(ABSENT, at);
    return at + 2;
  }
  const written = buffer.write(value.length > MAX_STRING_CHARS ? cut(value) : value, at + 2);
  buffer.writeUInt16LE(written, at);
  return at + 2 + written;
}

/** The string's first MAX_STRING_CHARS characters, one fewer when the cut would split a surrogate pair. */
export function cut(value: string): string {
  const end = isHighSurrogate(value.charCodeAt(MAX_STRING_CHARS - 1)) ? MAX_STRING_CHARS - 1 : MAX_STRING_CHARS;
  return value.slice(0, end);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Reads strings one after another from a record. */
class StringReader {
  constructor(
    private readonly record: Buffer,
    private at: number,
  ) {}

  next(): string | undefined {
    const length = this.record.readUInt16LE(this.at);
    this.at += 2;
    if (length === ABSENT) return undefined;
    const value = this.record.toString('utf8', this.at, this.at + length);
    this.at += length;
    return value;
  }
}

/** When a kept record's call started, in epoch ms: read without making its entry. */
export function startedAtMs(record: Buffer): number {
  return record.readDoubleLE(TIME);
}

/** The entry a kept record stands for: the same as the recorder would have streamed when the call ended. */
export function readCall(record: Buffer): CallEntry {
  const presence = record[PRESENCE];
  const code = record[CODE];
  const resetCode = (presence & Has.ResetCode) !== 0 ? record.readUInt32LE(RESET_CODE) : undefined;
  const strings = new StringReader(record, FIXED_BYTES);
  const service = strings.next() as string;
  const method = strings.next() as string;
  const message = strings.next();
  const podNamespace = strings.next();
  const podName = strings.next();
  const podUid = strings.next();
  const sandboxId = strings.next();
  const containerId = strings.next();
  const containerName = strings.next();
  const image = strings.next();
  const reason = strings.next();
  const verdict = strings.next() as EntryPolicy['verdict'] | undefined;
  const rule = strings.next();
  const policyReason = strings.next();
  const traceId = strings.next();
  return {
    v: CALL_ENTRY_VERSION,
    time: isoTime(startedAtMs(record)),
    service,
    method,
    status: entryStatus(code, (presence & Has.GrpcStatus) !== 0, resetCode),
    code,
    message,
    durationMs: record.readDoubleLE(DURATION_MS),
    podNamespace,
    podName,
    podUid,
    sandboxId,
    containerId,
    containerName,
    image,
    exitCode: (presence & Has.ExitCode) !== 0 ? record.readInt32LE(EXIT_CODE) : undefined,
    containerState: (presence & Has.ContainerState) !== 0 ? containerStateName(record[CONTAINER_STATE]) : undefined,
    reason,
    items: (presence & Has.Items) !== 0 ? record.readUInt32LE(ITEMS) : undefined,
    requestBytes: record.readDoubleLE(REQUEST_BYTES),
    responseBytes: record.readDoubleLE(RESPONSE_BYTES),
    byCriscope: (presence & Has.ByCriscope) !== 0 || undefined,
    policy: verdict === undefined ? undefined : { verdict, rule: rule as string, reason: policyReason as string },
    traceId,
  };
}
