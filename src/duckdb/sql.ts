/** SQL text for DuckDB: quoting of values and names that come from users, and its errors. */

/** A SQL string literal: paths and globs come from users, so quotes must not end the literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier (column names from files may hold spaces or quotes). */
export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The first line of an error's message (DuckDB's messages go on with context lines). */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
