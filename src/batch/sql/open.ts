import { UserError } from "../../config/errors.js";
import type { BatchSink, BatchSource } from "../types.js";
import { openPostgresSink } from "./postgres-sink.js";
import { openPostgresSource } from "./postgres-source.js";
import type { SourceSpec } from "./select.js";
import { sqliteFile } from "./sqlite-connection.js";
import { openSqliteSink } from "./sqlite-sink.js";
import { openSqliteSource } from "./sqlite-source.js";

export interface SqlSourceOptions {
  /** Table to read (`table` or `schema.table`); or give `query`. */
  table?: string;
  /** A SELECT to read instead of a table (wrapped as a subquery). */
  query?: string;
}

export interface SqlSinkOptions {
  /** Prediction table (`table` or `schema.table`); rejects go to `<table>_rejects`. */
  table?: string;
}

type SqlKind = "sqlite" | "postgres";

function kindOf(url: string, flag: string): SqlKind {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") return "sqlite";
  if (scheme === "postgres" || scheme === "postgresql") return "postgres";
  // Only the scheme is echoed: the rest may hold a password.
  throw new UserError(
    `${flag}: unsupported SQL URL scheme "${scheme ?? ""}:" (sqlite: or postgres://)`,
  );
}

function sourceSpec(options: SqlSourceOptions): SourceSpec {
  const { table, query } = options;
  if (table !== undefined && query !== undefined)
    throw new UserError("give --table or --query, not both");
  if (table !== undefined) return { table };
  if (query !== undefined) return { query };
  throw new UserError("a SQL --source needs --table or --query");
}

/** Opens a `sqlite:<path>`, `sqlite:///abs`, `postgres://…` or `postgresql://…` source. */
export async function openSqlSource(url: string, options: SqlSourceOptions): Promise<BatchSource> {
  const spec = sourceSpec(options);
  return kindOf(url, "--source") === "sqlite"
    ? openSqliteSource(sqliteFile(url), spec)
    : openPostgresSource(url, spec);
}

/** Opens a SQL sink; the prediction table is created on the first write. */
export async function openSqlSink(url: string, options: SqlSinkOptions): Promise<BatchSink> {
  if (options.table === undefined) throw new UserError("a SQL --sink needs --sink-table");
  return kindOf(url, "--sink") === "sqlite"
    ? openSqliteSink(sqliteFile(url), options.table)
    : openPostgresSink(url, options.table);
}
