/**
 * Rows of a SQLite or PostgreSQL table copied into a DuckDB staging table, streamed (a
 * better-sqlite3 iterator, a PostgreSQL cursor) through a CSV stage file so memory stays
 * bounded whatever the table size. DuckDB's sqlite and postgres extensions would do this
 * themselves but cannot be installed offline; monitor/ may not use batch/'s readers (layers).
 *
 * Every staged column is VARCHAR (numbers printed so they parse back to the same double);
 * the window SQL casts them to the monitored types. A `seq` column keeps the read order.
 */
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { UserError } from "../../../config/errors.js";
import { firstLine, sqlIdentifier, sqlString } from "../../../duckdb/index.js";
import { describePostgres } from "../../../registry/store/postgres-store.js";
import type { SourceContext } from "./context.js";

export type SqlKind = "sqlite" | "postgres";

/** sqlite: / postgres: URLs; undefined for anything else (a file path, another scheme). */
export function sqlKindOf(url: string): SqlKind | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") return "sqlite";
  if (scheme === "postgres" || scheme === "postgresql") return "postgres";
  return undefined;
}

/** `sqlite:<path>`, `sqlite:/abs`, `sqlite:///abs` → the file. */
export function sqliteFile(url: string, flag: string): string {
  const rest = url.slice("sqlite:".length);
  const file = rest.startsWith("//") ? rest.slice(2) : rest;
  if (file === "") throw new UserError(`${flag} ${url} names no file: use sqlite:<path>`);
  return path.resolve(file);
}

/** The URL for people: no password (PostgreSQL). */
export function describeSqlUrl(url: string): string {
  return sqlKindOf(url) === "postgres" ? describePostgres(url, undefined) : url;
}

/** Where a table is and which flags named it, for error messages. */
export interface SqlTableRef {
  url: string;
  /** `table` or `schema.table`. */
  table: string;
  /** The flag of the URL (--current, --actuals…) and of the table (--current-table…). */
  flag: string;
  tableFlag: string;
}

/** A row filter pushed to the database: equality on text, or a timestamp bound. */
export type SqlCondition =
  | { column: string; equals: string }
  | { column: string; from: Date }
  | { column: string; before: Date };

const PLAIN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function qualifiedTable(ref: SqlTableRef): string {
  const parts = ref.table.split(".");
  if (parts.length > 2 || !parts.every((part) => PLAIN.test(part)))
    throw new UserError(
      `${ref.tableFlag} ${JSON.stringify(ref.table)} is not a plain table name (table or schema.table)`,
    );
  return parts.map(quoted).join(".");
}

/** An open SQL table: its columns, and a streamed read of some of them. */
interface SqlReader {
  columns: string[];
  /** Calls `rows` with successive arrays of rows (values in `names` order). */
  read(
    names: readonly string[],
    where: readonly SqlCondition[],
    rows: (batch: unknown[][]) => Promise<void>,
  ): Promise<void>;
  close(): Promise<void>;
}

const FETCH_ROWS = 10_000;

function openSqlite(ref: SqlTableRef): SqlReader {
  const file = sqliteFile(ref.url, ref.flag);
  if (!existsSync(file)) throw new UserError(`${ref.flag} sqlite:${file}: no such file`);
  const table = qualifiedTable(ref);
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 30_000 });
  let columns: string[];
  try {
    columns = db
      .prepare(`SELECT * FROM ${table} LIMIT 0`)
      .columns()
      .map((c) => c.name);
  } catch (error) {
    db.close();
    throw new UserError(
      `${ref.flag} sqlite:${file}: cannot read ${ref.tableFlag} ${ref.table}: ${firstLine(error)}`,
      { cause: error },
    );
  }
  return {
    columns,
    async read(names, where, onRows) {
      const params: unknown[] = [];
      const conditions = where.map((c) => {
        // The batch sink writes timestamps as ISO 8601 text in UTC (toISOString), which
        // compares in time order as text.
        if ("equals" in c) params.push(c.equals);
        else params.push(("from" in c ? c.from : c.before).toISOString());
        return `${quoted(c.column)} ${"equals" in c ? "=" : "from" in c ? ">=" : "<"} ?`;
      });
      const sql = `SELECT ${names.map(quoted).join(", ")} FROM ${table}${conditions.length ? ` WHERE ${conditions.join(" AND ")}` : ""}`;
      // safeIntegers: an INTEGER beyond 2^53 keeps its digits.
      const statement = db.prepare(sql).raw(true).safeIntegers(true);
      let batch: unknown[][] = [];
      for (const row of statement.iterate(...params) as Iterable<unknown[]>) {
        batch.push(row);
        if (batch.length >= FETCH_ROWS) {
          await onRows(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await onRows(batch);
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

async function openPostgres(ref: SqlTableRef): Promise<SqlReader> {
  const where = describePostgres(ref.url, undefined);
  const table = qualifiedTable(ref);
  const client = new pg.Client({ connectionString: ref.url });
  // A connection the server drops must not crash the process; the next query reports it.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new UserError(`${ref.flag}: cannot connect to ${where}: ${firstLine(error)}`, {
      cause: error,
    });
  }
  let columns: string[];
  try {
    columns = (await client.query(`SELECT * FROM ${table} LIMIT 0`)).fields.map((f) => f.name);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new UserError(
      `${ref.flag} ${where}: cannot read ${ref.tableFlag} ${ref.table}: ${firstLine(error)}`,
      { cause: error },
    );
  }
  return {
    columns,
    async read(names, conditions, onRows) {
      const params: unknown[] = [];
      const filters = conditions.map((c) => {
        if ("equals" in c) {
          params.push(c.equals);
          return `${quoted(c.column)}::text = $${params.length}`;
        }
        params.push(("from" in c ? c.from : c.before).toISOString());
        return `${quoted(c.column)} ${"from" in c ? ">=" : "<"} $${params.length}::timestamptz`;
      });
      const sql = `SELECT ${names.map(quoted).join(", ")} FROM ${table}${filters.length ? ` WHERE ${filters.join(" AND ")}` : ""}`;
      // A server-side cursor: FETCH by FETCH_ROWS rows, never the whole table in memory.
      await client.query("BEGIN READ ONLY");
      try {
        await client.query(`DECLARE mldeploy_monitor NO SCROLL CURSOR FOR ${sql}`, params);
        for (;;) {
          const result = await client.query({
            text: `FETCH ${FETCH_ROWS} FROM mldeploy_monitor`,
            rowMode: "array",
          });
          if (result.rows.length === 0) break;
          await onRows(result.rows as unknown[][]);
        }
      } catch (error) {
        throw new UserError(`${ref.flag} ${where}: reading ${ref.table}: ${firstLine(error)}`, {
          cause: error,
        });
      } finally {
        await client.query("ROLLBACK").catch(() => undefined);
      }
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

/** Opens the table and checks it exists; close() it after use. */
export async function openSqlTable(ref: SqlTableRef): Promise<SqlReader> {
  const kind = sqlKindOf(ref.url);
  if (kind === "sqlite") return openSqlite(ref);
  if (kind === "postgres") return openPostgres(ref);
  throw new Error(`unreachable: ${ref.flag} is not a SQL URL`);
}

/** A cell as CSV text: NULL an empty field, text quoted, numbers as JS prints them (exact). */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return Number.isNaN(value) ? '"NaN"' : String(value);
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  const text = Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * Copies `names` of the rows matching `where` into the DuckDB table `staging` as columns
 * c0, c1, … (VARCHAR) plus `seq` (the read order, from 0). Returns the row count.
 */
export async function stageSqlRows(
  ctx: SourceContext,
  reader: SqlReader,
  names: readonly string[],
  where: readonly SqlCondition[],
  staging: string,
): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), "mldeploy-monitor-"));
  const file = path.join(dir, "stage.csv");
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.on("error", reject));
  failed.catch(() => undefined);
  let rows = 0;
  try {
    await reader.read(names, where, async (batch) => {
      let text = "";
      for (const row of batch) {
        text += String(rows++);
        for (const value of row) text += `,${csvCell(value)}`;
        text += "\n";
      }
      if (!out.write(text))
        await Promise.race([
          new Promise<void>((resolve) => out.once("drain", () => resolve())),
          failed,
        ]);
    });
    await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed]);
    const columns = names.map((_, i) => `c${i}`);
    const target = sqlIdentifier(staging);
    if (rows === 0) {
      await ctx.connection.run(
        `CREATE OR REPLACE TEMP TABLE ${target} (seq BIGINT, ${columns.map((c) => `${c} VARCHAR`).join(", ")})`,
      );
    } else {
      const types = [`'seq': 'BIGINT'`, ...columns.map((c) => `'${c}': 'VARCHAR'`)].join(", ");
      await ctx.connection.run(
        `CREATE OR REPLACE TEMP TABLE ${target} AS SELECT * FROM read_csv(${sqlString(file)}, header = false, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, columns = {${types}})`,
      );
    }
    return rows;
  } finally {
    out.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}
