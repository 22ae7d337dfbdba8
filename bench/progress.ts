// Progress goes to stderr so stdout holds only the report.

const started = performance.now();

export function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
  process.stderr.write(`[${seconds} s] ${message}\n`);
}
