import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * criscope's structured logger: JSON lines on stdout (or the given stream).
 * Nothing secret can reach it from a call: call records are decoded through
 * projections that never read registry credentials or environment values.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, name: 'criscope', base: { pid: process.pid } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
