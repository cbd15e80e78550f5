import type Database from "better-sqlite3";
import { sqliteDialect } from "./dialect.js";
import { displayName, qualified, quote, type TableName } from "./identifiers.js";
import { openSqlite, sqliteError, toSqlite } from "./sqlite-connection.js";
import {
  onConflict,
  sinkTable,
  SqlSink,
  type SinkDriver,
  type SinkTransaction,
  type Upsert,
} from "./sql-sink.js";

class SqliteSinkDriver implements SinkDriver {
  readonly dialect = sqliteDialect;
  private readonly statements = new Map<string, Database.Statement>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Database.Database,
    private readonly description: string,
  ) {}

  async create(statements: readonly string[]): Promise<void> {
    await this.transaction(async () => {
      for (const sql of statements) this.db.exec(sql);
    });
  }

  async columns(table: TableName): Promise<Map<string, string> | undefined> {
    // The table-valued pragma takes the schema (an attached database) as a second argument.
    const args = table.schema === undefined ? [table.name] : [table.name, table.schema];
    const rows = this.db
      .prepare(`SELECT name, type FROM pragma_table_info(${args.map(() => "?").join(", ")})`)
      .all(...args) as { name: string; type: string }[];
    return rows.length === 0 ? undefined : new Map(rows.map((row) => [row.name, row.type]));
  }

  async rows(sql: string, values: readonly unknown[]): Promise<unknown[][]> {
    return this.statement(sql)
      .raw(true)
      .all(...values.map(toSqlite)) as unknown[][];
  }

  async run(sql: string, values: readonly unknown[]): Promise<void> {
    this.statement(sql).run(...values.map(toSqlite));
  }

  /**
   * BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy timeout for other
   * writers), so the upserts never fail half-way on a lock. The queue keeps two async callers
   * in this process from interleaving inside one transaction.
   */
  transaction(fn: (tx: SinkTransaction) => Promise<void>): Promise<void> {
    const result = this.tail.then(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        await fn({ upsert: async (upsert) => this.upsert(upsert) });
        this.db.exec("COMMIT");
      } catch (error) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw sqliteError(error, this.description);
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.tail;
    if (this.db.open) this.db.close();
  }

  /** One prepared INSERT … ON CONFLICT run per row: inside a transaction that is fast in SQLite. */
  private upsert(upsert: Upsert): void {
    const names = upsert.columns.map((column) => column.name);
    const statement = this.statement(
      `INSERT INTO ${qualified(upsert.table)} (${names.map(quote).join(", ")}) ` +
        `VALUES (${names.map(() => "?").join(", ")}) ${onConflict(upsert.key, names)}`,
    );
    const constants = upsert.columns.map((column) =>
      "all" in column ? toSqlite(column.all) : undefined,
    );
    const row: unknown[] = new Array(names.length);
    for (let i = 0; i < upsert.rows; i++) {
      upsert.columns.forEach((column, c) => {
        row[c] = "each" in column ? toSqlite(column.each[i]) : constants[c];
      });
      statement.run(...row);
    }
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Opens (creating it if needed) a SQLite file as a sink writing to `table`. */
export async function openSqliteSink(file: string, table: string): Promise<SqlSink> {
  const name = sinkTable(table);
  const db = openSqlite(file, "sink");
  const description = `sqlite:${file} (table ${displayName(name)})`;
  return new SqlSink(new SqliteSinkDriver(db, description), name, description);
}
