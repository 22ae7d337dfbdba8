/**
 * What install and uninstall tell the operator: one line per thing looked at or changed,
 * saying the file, the key and old → new. In a dry run every line is marked, since
 * nothing it says was done.
 */
export class InstallReport {
  constructor(
    private readonly write: (line: string) => void,
    private readonly dryRun: boolean,
  ) {}

  line(text: string): void {
    this.write(this.dryRun ? `[dry run] ${text}\n` : `${text}\n`);
  }
}

/** A value as the operator reads it in a line: `(absent)` and `""` are told apart from values. */
export function shown(value: string | null | undefined): string {
  if (value === undefined) return '(absent)';
  if (value === null) return '(empty)';
  return value === '' ? '""' : value;
}

export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
