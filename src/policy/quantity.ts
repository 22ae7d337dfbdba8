/**
 * Kubernetes resource quantities ("2Gi", "500m", "1e9") for the policy file,
 * parsed exactly (decimal digits kept as integers, not floats) so "1.1" CPU is
 * 1100 millicores and not 1100.0000000000002.
 */
import { z } from 'zod';

const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

// Alternation order matters: "E" alone is exa, "E3" an exponent; the anchor makes the regex fall through.
const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

/**
 * A quantity in units of 10^-`scale` of its base unit (scale 0: bytes or cores;
 * scale 3: millicores), rounded up as Kubernetes does; undefined when the text
 * is not a quantity or the result is not a safe integer.
 */
function parseQuantity(input: string | number, scale: number): number | undefined {
  const match = QUANTITY.exec(String(input).trim());
  if (match === null) return undefined;
  const [, number = '', suffix = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let digits = BigInt(whole + fraction || '0');
  let exponent10 = scale - fraction.length;
  const binary = BINARY_SUFFIXES[suffix];
  if (binary !== undefined) digits *= 1024n ** BigInt(binary);
  else exponent10 += DECIMAL_SUFFIXES[suffix] ?? Number(suffix.slice(1));
  // Bounded so "1e999999" cannot build a huge BigInt; no sane quantity comes near either bound.
  if (exponent10 > 30 || exponent10 < -40) return undefined;
  const value =
    exponent10 >= 0 ? digits * 10n ** BigInt(exponent10) : ceilDivide(digits, 10n ** BigInt(-exponent10));
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

function ceilDivide(dividend: bigint, divisor: bigint): bigint {
  return (dividend + divisor - 1n) / divisor;
}

function quantitySchema(scale: number, example: string) {
  const message = `must be ${example}`;
  return z.union([z.string(), z.number()], { error: message }).transform((input, context) => {
    const value = parseQuantity(input, scale);
    if (value === undefined) {
      context.issues.push({ code: 'custom', message, input });
      return z.NEVER;
    }
    if (value === 0) {
      context.issues.push({ code: 'custom', message: 'must be greater than zero', input });
      return z.NEVER;
    }
    return value;
  });
}

/** A memory size ("2Gi", "512Mi", "1G", "1e9", 1000000) in bytes. */
export const memoryQuantity = quantitySchema(0, 'a memory size such as "2Gi"');

/** An amount of CPU ("2", "1.5", "500m") in millicores, rounded up to a whole millicore. */
export const cpuQuantity = quantitySchema(3, 'a CPU amount such as "500m" or "2"');

const BINARY_UNITS = ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const;

/** Bytes for a reason: "2Gi", "512Mi", or "953.67Mi (1000000000 bytes)" when no binary unit fits exactly. */
export function formatBytes(bytes: number): string {
  for (const [index, unit] of BINARY_UNITS.entries()) {
    const size = 1024 ** (BINARY_UNITS.length - index);
    if (bytes < size) continue;
    const amount = bytes / size;
    return Number.isInteger(amount) ? `${amount}${unit}` : `${trimmed(amount, 2)}${unit} (${bytes} bytes)`;
  }
  return `${bytes} bytes`;
}

/** Millicores for a reason: "2 cores", "1.5 cores", "500 millicores". */
export function formatMillicores(millicores: number): string {
  if (millicores < 1000) return `${trimmed(millicores, 2)} ${millicores === 1 ? 'millicore' : 'millicores'}`;
  const cores = millicores / 1000;
  return `${trimmed(cores, 5)} ${cores === 1 ? 'core' : 'cores'}`;
}

function trimmed(value: number, decimals: number): string {
  return String(Number(value.toFixed(decimals)));
}
