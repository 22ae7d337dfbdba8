/**
 * The demo's live view: reads criscope's JSON log lines on stdin and prints each
 * decoded CRI call as one readable line (see format-call.ts). Ends when criscope
 * closes its output.
 */
import { createInterface } from 'node:readline';
import { ANSI, formatLine, PLAIN } from './format-call.js';

// Ctrl-C reaches the whole process group; the printer must outlive it to show
// the teardown calls that follow, and stops at end of input instead.
process.on('SIGINT', () => undefined);
// The terminal may go away first; nothing is left worth reporting then.
process.stdout.on('error', () => process.exit(0));

const paint = process.stdout.isTTY && process.env['NO_COLOR'] === undefined ? ANSI : PLAIN;

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() !== '') process.stdout.write(`${formatLine(line, paint)}\n`);
}
