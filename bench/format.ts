// Number and table formatting for the report.

export function formatMicroseconds(microseconds: number): string {
  if (!Number.isFinite(microseconds)) return "n/a";
  return Math.abs(microseconds) >= 10_000 ? `${(microseconds / 1000).toFixed(1)} ms` : `${Math.round(microseconds)} µs`;
}

export function formatAddedMicroseconds(microseconds: number): string {
  const text = formatMicroseconds(microseconds);
  return microseconds >= 0 ? `+${text}` : text;
}

export function formatPercent(fraction: number): string {
  return Number.isFinite(fraction) ? `${Math.round(fraction * 100)}%` : "n/a";
}

export function formatMebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Left-aligns the first column, right-aligns the rest, two spaces apart. */
export function formatTable(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
        .join("  ")
        .trimEnd(),
  );
}
