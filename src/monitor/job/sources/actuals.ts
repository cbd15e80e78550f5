/**
 * Actual values (the truth, known later) as a DuckDB table (id VARCHAR, actual DOUBLE): from a
 * SQL table, a Parquet/CSV file, or the actual column a batch job wrote next to its
 * predictions. One value per id; values that are not numbers are counted, warned and skipped.
 */
import { UserError } from "../../../config/errors.js";
import { firstLine, sqlIdentifier } from "../../../duckdb/index.js";
import type { ActualsFrame } from "../types.js";
import { checkTableName, count, findColumn, type SourceContext } from "./context.js";
import { describeFrom, fileReader } from "./files.js";
import { describeSqlUrl, openSqlTable, sqlKindOf, stageSqlRows } from "./sql-table.js";

export interface ActualsOptions {
  table: string;
  /** sqlite:<file>, postgres://…, or a .parquet / .csv file (--actuals). */
  url: string;
  /** The table of a SQL source (--actuals-table). */
  sourceTable?: string;
  /** --actuals-id-column, --actuals-column. */
  idColumn: string;
  valueColumn: string;
}

interface ActualsSql {
  table: string;
  /** SELECT of id, value and seq (the order that decides which duplicate is last). */
  sql: string;
  description: string;
  /** "expected": an id repeats by design (one batch row per model version); not warned. */
  repeatedIds?: "expected" | "warn";
}

/** Builds the actuals table from `sql` and says what it skipped. */
export async function createActualsTable(ctx: SourceContext, o: ActualsSql): Promise<ActualsFrame> {
  const table = sqlIdentifier(checkTableName(o.table));
  const { connection, logger } = ctx;
  const typed = `SELECT CAST(id AS VARCHAR) AS id, value, TRY_CAST(value AS DOUBLE) AS actual, seq FROM (${o.sql})`;
  const counts = await connection.runAndReadAll(
    `SELECT count(*),
       count(*) FILTER (WHERE id IS NULL),
       count(*) FILTER (WHERE id IS NOT NULL AND value IS NULL),
       count(*) FILTER (WHERE id IS NOT NULL AND value IS NOT NULL AND (actual IS NULL OR NOT isfinite(actual)))
     FROM (${typed})`,
  );
  const [read, noId, missing, notNumeric] = counts.getRows()[0].map((v) => Number(v));
  await connection.run(
    `CREATE OR REPLACE TABLE ${table} AS
     SELECT id, arg_max(actual, seq) AS actual FROM (${typed})
     WHERE id IS NOT NULL AND actual IS NOT NULL AND isfinite(actual)
     GROUP BY id`,
  );
  const rows = Number(
    (await connection.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0][0],
  );
  const duplicates = read - noId - missing - notNumeric - rows;
  const notes: string[] = [];
  if (notNumeric > 0) {
    notes.push(`${count(notNumeric)} values that are not numbers skipped`);
    logger.warn(
      { source: o.description, rows: notNumeric },
      `actuals: ${count(notNumeric)} values of ${o.description} are not numbers; skipped`,
    );
  }
  if (missing > 0) notes.push(`${count(missing)} without a value`);
  if (noId > 0) {
    notes.push(`${count(noId)} without an id skipped`);
    logger.warn(
      { source: o.description, rows: noId },
      `actuals: ${count(noId)} rows of ${o.description} have no id; skipped`,
    );
  }
  if (duplicates > 0 && o.repeatedIds !== "expected") {
    notes.push(`${count(duplicates)} repeated ids (the last value of each kept)`);
    logger.warn(
      { source: o.description, rows: duplicates },
      `actuals: ${count(duplicates)} rows of ${o.description} repeat an id; the last value of each id is kept`,
    );
  }
  return {
    table: checkTableName(o.table),
    rows,
    description: `${o.description}: ${count(rows)} ids${notes.length ? `; ${notes.join(", ")}` : ""}`,
  };
}

const FLAG = "--actuals";

export async function loadActuals(ctx: SourceContext, o: ActualsOptions): Promise<ActualsFrame> {
  checkTableName(o.table);
  const kind = sqlKindOf(o.url);
  const need = (available: string[], name: string, flag: string, where: string): string => {
    const found = findColumn(available, name);
    if (found === undefined)
      throw new UserError(
        `${flag} ${name}: ${where} has no such column; it has: ${available.join(", ")}`,
      );
    return found;
  };
  if (kind !== undefined) {
    if (o.sourceTable === undefined)
      throw new UserError(`${FLAG} ${describeSqlUrl(o.url)}: name the table with --actuals-table`);
    const where = `${describeSqlUrl(o.url)} table ${o.sourceTable}`;
    const reader = await openSqlTable({
      url: o.url,
      table: o.sourceTable,
      flag: FLAG,
      tableFlag: "--actuals-table",
    });
    const staging = `${o.table}__staging`;
    try {
      const id = need(reader.columns, o.idColumn, "--actuals-id-column", where);
      const value = need(reader.columns, o.valueColumn, "--actuals-column", where);
      await stageSqlRows(ctx, reader, [id, value], [], staging);
      return await createActualsTable(ctx, {
        table: o.table,
        sql: `SELECT c0 AS id, c1 AS value, seq FROM ${sqlIdentifier(staging)}`,
        description: `actuals ${where} (${id} → ${value})`,
      });
    } finally {
      await reader.close();
      await ctx.connection.run(`DROP TABLE IF EXISTS ${sqlIdentifier(staging)}`);
    }
  }
  const from = await fileReader(o.url, FLAG);
  const where = `${FLAG} ${o.url}`;
  const available = await describeFrom(ctx, from, where);
  const id = need(available, o.idColumn, "--actuals-id-column", o.url);
  const value = need(available, o.valueColumn, "--actuals-column", o.url);
  // Staged in file order (DuckDB keeps insertion order), so rowid says which duplicate is last.
  const staging = sqlIdentifier(`${o.table}__staging`);
  try {
    await ctx.connection.run(
      `CREATE OR REPLACE TEMP TABLE ${staging} AS SELECT ${sqlIdentifier(id)} AS id, ${sqlIdentifier(value)} AS value FROM ${from}`,
    );
  } catch (error) {
    throw new UserError(`${where}: cannot read (${firstLine(error)})`, { cause: error });
  }
  try {
    return await createActualsTable(ctx, {
      table: o.table,
      sql: `SELECT id, value, rowid AS seq FROM ${staging}`,
      description: `actuals ${o.url} (${id} → ${value})`,
    });
  } finally {
    await ctx.connection.run(`DROP TABLE IF EXISTS ${staging}`);
  }
}
