import { ANSI_PAINT, NO_PAINT, type LinePaint } from './call-line.js';

/** Colour on a terminal, unless NO_COLOR is set (no-color.org); plain when piped. */
export function linePaint(out: { readonly isTTY?: boolean }): LinePaint {
  return out.isTTY === true && process.env['NO_COLOR'] === undefined ? ANSI_PAINT : NO_PAINT;
}

/**
 * Calls `onGone` when the reader goes away (`criscope tail | head`: the write
 * fails, EPIPE), so that the command ends quietly instead of with a stack
 * trace; returns what stops listening.
 */
export function whenReaderGone(out: NodeJS.WritableStream, onGone: () => void): () => void {
  out.once('error', onGone);
  return () => out.off('error', onGone);
}
