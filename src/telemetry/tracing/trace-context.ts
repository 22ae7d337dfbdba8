import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/** The parent a W3C traceparent names. */
export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
}

/** A version-00 traceparent: "00-" + 32 + "-" + 16 + "-" + 2 characters. */
const TRACEPARENT_LENGTH = 55;
/** Each lowercase hex digit's value by char code; -1 for any other char. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX_DIGIT[digit.toString(16).charCodeAt(0)] = digit;
const ONE_SPACE = /^\s$/;
/** What a regular expression's "." does not match. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

function hexDigit(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code < 128 ? HEX_DIGIT[code] : -1;
}

/** Whether text[from, to) is lowercase hex and not all zeros. */
function nonZeroHex(text: string, from: number, to: number): boolean {
  let any = 0;
  for (let at = from; at < to; at++) {
    const digit = hexDigit(text, at);
    if (digit < 0) return false;
    any |= digit;
  }
  return any !== 0;
}

/**
 * Reads a traceparent header exactly as OpenTelemetry's W3C propagator does
 * (parseTraceParent in @opentelemetry/core, whose regular expression is the
 * reference in this function's test), without a regular expression: it runs
 * on every traced call. Undefined for a value the propagator would refuse.
 */
export function parseTraceparent(header: string): TraceParent | undefined {
  // One whitespace char may lead.
  const start = header.length > 0 && ONE_SPACE.test(header[0]) ? 1 : 0;
  if (header.length - start < TRACEPARENT_LENGTH) return undefined;
  const version0 = hexDigit(header, start);
  const version1 = hexDigit(header, start + 1);
  if (version0 < 0 || version1 < 0 || (version0 === 15 && version1 === 15)) return undefined;
  const at = start + 3;
  if (header[start + 2] !== '-' || header[at + 32] !== '-' || header[at + 49] !== '-') return undefined;
  if (!nonZeroHex(header, at, at + 32) || !nonZeroHex(header, at + 33, at + 49)) return undefined;
  const flags0 = hexDigit(header, at + 50);
  const flags1 = hexDigit(header, at + 51);
  if (flags0 < 0 || flags1 < 0) return undefined;
  if (!acceptableRest(header.slice(start + TRACEPARENT_LENGTH), version0 === 0 && version1 === 0)) return undefined;
  return { traceId: header.slice(at, at + 32), spanId: header.slice(at + 33, at + 49), traceFlags: flags0 * 16 + flags1 };
}

/** What may follow the 55 chars: one whitespace char; or, past version 00, a dash and more on one line (then one whitespace char). */
function acceptableRest(rest: string, version00: boolean): boolean {
  if (rest === '' || (rest.length === 1 && ONE_SPACE.test(rest))) return true;
  if (version00 || rest[0] !== '-') return false;
  if (!LINE_TERMINATOR.test(rest)) return true;
  return ONE_SPACE.test(rest[rest.length - 1]) && !LINE_TERMINATOR.test(rest.slice(0, -1));
}

const POOL_BYTES = 4096;

/**
 * Trace and span ids from the system's random source, drawn from a pool
 * refilled a few kilobytes at a time, so an id costs one hex conversion:
 * OpenTelemetry's RandomIdGenerator draws each from Math.random, at several
 * times the cost, on every traced call. An id is never all zeros (W3C).
 */
export class PooledRandomIds implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private next = POOL_BYTES;

  generateTraceId(): string {
    return this.take(16);
  }

  generateSpanId(): string {
    return this.take(8);
  }

  private take(bytes: number): string {
    for (;;) {
      if (this.next + bytes > POOL_BYTES) {
        randomFillSync(this.pool);
        this.next = 0;
      }
      const from = this.next;
      this.next += bytes;
      for (let at = from; at < from + bytes; at++) if (this.pool[at] !== 0) return this.pool.toString('hex', from, from + bytes);
    }
  }
}
