/** Prints rows as an aligned text table (for humans; `--json` is there for scripts). */
export function printTable(
  rows: Array<Record<string, unknown>>,
  stream: NodeJS.WritableStream = process.stdout,
): void {
  if (rows.length === 0) {
    stream.write("(none)\n");
    return;
  }
  const columns = Object.keys(rows[0]);
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]))
      .join("  ")
      .trimEnd() + "\n";
  stream.write(line(columns.map((c) => c.toUpperCase())));
  for (const row of cells) stream.write(line(row));
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number")
    return Number.isInteger(value) ? String(value) : value.toPrecision(6);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
