import { mkdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import Database from "better-sqlite3";
import { migrateSqlite } from "./migrations.js";
import type { SqlDatabase, SqlExecutor, SqlValue } from "./sql-database.js";
import { SqlStore } from "./sql-store.js";

export interface SqliteStoreOptions {
  /** Default: an `artifacts` directory next to the database file. */
  artifactRoot?: string;
  /** How long a writer waits for another process's write lock before failing. Default 10 s. */
  busyTimeoutMs?: number;
}

/**
 * better-sqlite3 behind the async SqlDatabase interface. Its calls are synchronous, but the
 * store's transactions are async functions: a queue makes each read or transaction run alone
 * on the connection, so two callers in one process never interleave inside a transaction.
 * Across processes, BEGIN IMMEDIATE plus busy_timeout make writers wait for each other.
 */
class SqliteDatabase implements SqlDatabase {
  readonly dialect = "sqlite";
  readonly lockRow = "";
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly executor: SqlExecutor;

  constructor(private readonly db: Database.Database) {
    this.executor = {
      query: async <T extends object>(sql: string, params: readonly SqlValue[] = []) =>
        this.statement(sql).all(...params) as T[],
      run: async (sql: string, params: readonly SqlValue[] = []) =>
        this.statement(sql).run(...params).changes,
    };
  }

  read<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(() => fn(this.executor));
  }

  write<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      // IMMEDIATE: take the write lock now, not at the first write, so a transaction that
      // reads then writes (version numbers, param checks) sees what it overwrites.
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.executor);
        this.db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  isUniqueViolation(error: unknown): boolean {
    return (
      error instanceof Database.SqliteError &&
      (error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY")
    );
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.db.open) this.db.close();
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      // IN lists and multi-row inserts make one statement per size: keep the cache bounded.
      if (this.statements.size >= 200) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

export class SqliteStore extends SqlStore {
  /** Opens (creating it and its directory if needed) and migrates a SQLite registry file. */
  static async open(file: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const absolute = path.resolve(file);
    mkdirSync(path.dirname(absolute), { recursive: true });
    const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    const db = new Database(absolute, { timeout: busyTimeoutMs });
    try {
      await switchToWal(db, busyTimeoutMs);
      // NORMAL is durable in WAL mode except for the last transactions on power loss.
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      migrateSqlite(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteStore(new SqliteDatabase(db), {
      artifactRoot: options.artifactRoot ?? path.join(path.dirname(absolute), "artifacts"),
      description: `sqlite:${absolute}`,
    });
  }
}

/**
 * Switching a fresh file to WAL takes an exclusive lock briefly. busy_timeout makes most
 * concurrent openers wait for it, but SQLite can answer SQLITE_BUSY at once, without the busy
 * handler, to a process that opens the file while another is switching it (seen with 4
 * processes creating one registry together): so it is retried here until the same timeout.
 */
async function switchToWal(db: Database.Database, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      const busy = String((error as { code?: unknown }).code).startsWith("SQLITE_BUSY");
      if (!busy || Date.now() >= deadline) throw error;
      await sleep(10 + Math.random() * 40);
    }
  }
}
