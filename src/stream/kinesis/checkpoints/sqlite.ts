import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { CREATE_TABLE, TABLE_NAME, type LeaseDatabase, type SqlValue } from "./database.js";

/**
 * The lease table in a SQLite file: the default, for consumers on one host (processes share
 * the file; WAL and a busy timeout let them write in turn). better-sqlite3 is synchronous,
 * which makes each statement atomic within the process too.
 */
export function openSqliteLeases(file: string): LeaseDatabase {
  const absolute = path.resolve(file);
  mkdirSync(path.dirname(absolute), { recursive: true });
  const db = new Database(absolute, { timeout: 10_000 });
  try {
    db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode can lose the last commits on power loss (not on a process crash):
    // a checkpoint a little behind only means a few events predicted twice.
    db.pragma("synchronous = NORMAL");
    db.exec(CREATE_TABLE(TABLE_NAME));
  } catch (err) {
    db.close();
    throw err;
  }
  const statements = new Map<string, Database.Statement>();
  const statement = (sql: string): Database.Statement => {
    let found = statements.get(sql);
    if (found === undefined) {
      // IN lists make one statement per length: keep the cache bounded.
      if (statements.size >= 100) statements.clear();
      found = db.prepare(sql);
      statements.set(sql, found);
    }
    return found;
  };
  return {
    description: `sqlite:${absolute}`,
    table: TABLE_NAME,
    // unixepoch('subsec') needs SQLite 3.42; better-sqlite3 12 bundles a newer one.
    nowMs: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    query: async <T extends object>(sql: string, params: readonly SqlValue[] = []) =>
      statement(sql).all(...params) as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      statement(sql).run(...params).changes,
    close: async () => {
      if (db.open) db.close();
    },
  };
}
