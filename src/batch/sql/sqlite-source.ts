import type Database from "better-sqlite3";
import { SQLITE_PARTITION_FUNCTION, sqliteDialect } from "./dialect.js";
import { fromSqlite, openSqlite, sqliteError } from "./sqlite-connection.js";
import { SqlSource, type SelectResult, type SourceDriver } from "./sql-source.js";
import { relation, type SourceSpec } from "./select.js";

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`: small, fast and stable across versions. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash;
}

/** Partition of an id: the hash of its text form (integers as their decimal digits). */
export function sqlitePartitionOf(id: unknown, count: number): number | null {
  if (id === null || id === undefined) return null;
  const text = Buffer.isBuffer(id) ? id.toString("hex") : String(id);
  return fnv1a32(text) % count;
}

class SqliteSourceDriver implements SourceDriver {
  readonly dialect = sqliteDialect;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly description: string,
  ) {
    // SQLite has no built-in hash function; a deterministic one lets the planner treat it as
    // a pure expression. safeIntegers: large integer ids hash by their exact digits.
    db.function(
      SQLITE_PARTITION_FUNCTION,
      { deterministic: true, safeIntegers: true },
      (id: unknown, count: unknown) => sqlitePartitionOf(id, Number(count)),
    );
  }

  async select(sql: string, values: readonly unknown[]): Promise<SelectResult> {
    try {
      const statement = this.statement(sql);
      const rows = statement.all(...values) as unknown[][];
      for (const row of rows) {
        for (let i = 0; i < row.length; i++) row[i] = fromSqlite(row[i]);
      }
      // SQLite's affinity rule: a declared type containing "INT" is an integer column.
      const integer = statement.columns().map((column) => /INT/i.test(column.type ?? ""));
      return { rows, integer };
    } catch (error) {
      throw sqliteError(error, this.description);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Chunk queries differ only in their parameters after the first two: prepare each once. */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql).raw(true).safeIntegers(true);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Opens a SQLite file as a source and checks that the table or query can be read. */
export async function openSqliteSource(file: string, spec: SourceSpec): Promise<SqlSource> {
  const from = relation(spec);
  const description = `sqlite:${file} (${spec.table !== undefined ? `table ${spec.table}` : "query"})`;
  const db = openSqlite(file, "source");
  const driver = new SqliteSourceDriver(db, description);
  try {
    // Fails now, with the table or syntax error, rather than at the first chunk.
    await driver.select(`SELECT * FROM ${from} AS src LIMIT 0`, []);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlSource(driver, from, description);
}
