import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { UserError } from "../../config/errors.js";
import { storageError } from "../storage-fault.js";

/** Parses `sqlite:<path>`, `sqlite:/abs` and `sqlite:///abs` (as the registry URL does). */
export function sqliteFile(url: string): string {
  const rest = url.slice("sqlite:".length);
  const file = rest.startsWith("//") ? rest.slice(2) : rest;
  if (file === "") throw new UserError(`${url} names no file: use sqlite:<path>`);
  return path.resolve(file);
}

/**
 * Opens a database file. A source must exist (a typo should not create an empty database and
 * read nothing); a sink is created with its directory. `timeout` makes a connection wait for
 * another process's write lock (e.g. partitioned workers writing to one file).
 */
export function openSqlite(file: string, role: "source" | "sink"): Database.Database {
  if (role === "source" && !existsSync(file)) {
    throw new UserError(`--source sqlite:${file}: no such file`);
  }
  if (role === "source") return new Database(file, { readonly: true, timeout: 30_000 });
  let db: Database.Database | undefined;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file, { timeout: 30_000 });
    // WAL: readers (this job's source, dashboards) do not block the writer nor it them.
    db.pragma("journal_mode = WAL");
    return db;
  } catch (error) {
    db?.close();
    // A full disk or a read-only directory, named as such rather than "unable to open".
    throw storageError(error, `--sink sqlite:${file}`, file);
  }
}

/**
 * Statements run with safeIntegers so INTEGERs beyond 2^53 are not silently rounded; they are
 * returned as numbers when exact and as decimal text otherwise (as PostgreSQL's BIGINT).
 */
export function fromSqlite(value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value.toString();
}

/** better-sqlite3 binds only numbers, strings, bigints, buffers and null. */
export function toSqlite(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "number":
    case "string":
    case "bigint":
      return value;
    case "boolean":
      return value ? 1 : 0;
    default:
      if (value instanceof Date) return value.toISOString();
      if (Buffer.isBuffer(value)) return value;
      return JSON.stringify(value);
  }
}

/** SQL errors in statements built from the user's names or query are the user's to fix. */
export function sqliteError(error: unknown, description: string): unknown {
  if (error instanceof Database.SqliteError && error.code === "SQLITE_ERROR") {
    return new UserError(`${description}: ${error.message}`, { cause: error });
  }
  // "database or disk is full" and the like: the machine's refusal, named with the database.
  return storageError(error, description);
}
