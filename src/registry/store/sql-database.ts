/**
 * The little the shared store logic needs from a SQL driver. Statements are written once, in
 * the SQL that SQLite and PostgreSQL share, with `?` placeholders (the PostgreSQL side
 * renumbers them to `$1, $2…`, so statements must not contain a literal "?").
 */

export type SqlValue = string | number | null;

/** PostgreSQL returns BIGINT columns as strings; row mappers pass them through Number(). */
export type SqlInt = number | string;

export interface SqlExecutor {
  query<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement that returns no rows; resolves to the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDatabase {
  /** For the few statements the two engines spell differently (run search's LIKE). */
  readonly dialect: "sqlite" | "postgres";
  /**
   * Appended to a SELECT that reads a row the transaction is about to change, so concurrent
   * writers queue on that row. Empty on SQLite, where a write transaction holds the whole
   * database lock from its first statement (BEGIN IMMEDIATE).
   */
  readonly lockRow: string;
  /** Statements that only read, on one connection, in order. */
  read<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T>;
  /** One transaction: committed when fn resolves, rolled back when it throws. */
  write<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  isUniqueViolation(error: unknown): boolean;
  close(): Promise<void>;
}

/** "?, ?, ?" for an IN list or a VALUES row. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/** Keeps IN lists and multi-row inserts well under both engines' bound-parameter limits. */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Multi-row INSERT, chunked; `suffix` can add an ON CONFLICT clause. */
export async function insertRows(
  tx: SqlExecutor,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly SqlValue[])[],
  suffix = "",
): Promise<void> {
  const row = `(${placeholders(columns.length)})`;
  for (const part of chunks(rows, Math.floor(2000 / columns.length))) {
    const values = part.map(() => row).join(", ");
    await tx.run(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values}${suffix}`,
      part.flat(),
    );
  }
}
