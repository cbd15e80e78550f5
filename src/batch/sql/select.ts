import { UserError } from "../../config/errors.js";
import { checkPartition } from "../partition.js";
import { checkQuery } from "../query.js";
import type { Checkpoint, Partition, ReadOptions } from "../types.js";
import { Params, type SqlDialect } from "./dialect.js";
import { columnName, qualified, quote, tableName } from "./identifiers.js";

/**
 * The SELECT statements of the SQL sources, shared by both dialects. Each chunk is one
 * keyset query (`WHERE (since, id) > (…) ORDER BY since, id LIMIT n`), so a read never holds a
 * cursor or an offset: memory stays flat and every query can use an index on the key.
 *
 * Index to have on the source table: the id column alone is served by its primary key (an
 * index range scan that stops after `chunkSize` rows). With --since-column, create
 * `CREATE INDEX ON <table> (<since column>, <id column>)`: without it every chunk scans and
 * top-N sorts all remaining rows, so a full read costs O(rows² / chunkSize). The same indexes
 * serve the rows each run reports as rejects because a key is NULL: `id IS NULL` the id's
 * index, `since IS NULL` the (since, id) one.
 */

/** What rows come from: a table, or the user's SELECT wrapped as a subquery. */
export type SourceSpec =
  { table: string; query?: undefined } | { query: string; table?: undefined };

/** The FROM item (without alias) for a table or a custom query. */
export function relation(spec: SourceSpec): string {
  if (spec.table !== undefined) return qualified(tableName(spec.table, "--table"));
  // Newlines around the query: a trailing `-- comment` in it must not swallow `) AS src`.
  return `(\n${checkQuery(spec.query)}\n)`;
}

/** Validated read options, with the SQL they select. */
export { checkQuery };

export interface ReadPlan {
  idColumn: string;
  sinceColumn?: string;
  columns: string[];
  /** `src."id"`, and `src."since"` when there is one: the keyset, in order. */
  keys: string[];
  /** Select list: the keys, then the columns. */
  select: string;
}

const column = (name: string) => `src.${quote(name)}`;

export function planRead(
  options: Omit<ReadOptions, "chunkSize" | "after" | "partition">,
): ReadPlan {
  const idColumn = columnName(options.idColumn, "--id-column");
  const sinceColumn =
    options.sinceColumn === undefined
      ? undefined
      : columnName(options.sinceColumn, "--since-column");
  const columns = options.columns.map((name) => columnName(name, "--keep-columns"));
  const keys =
    sinceColumn === undefined ? [column(idColumn)] : [column(sinceColumn), column(idColumn)];
  return {
    idColumn,
    sinceColumn,
    columns,
    keys,
    select: [...keys, ...columns.map(column)].join(", "),
  };
}

/** The key values to start after, in the keyset's order. */
function afterValues(plan: ReadPlan, after: Checkpoint): unknown[] {
  if (plan.sinceColumn === undefined) {
    if (after.since !== undefined) {
      throw new UserError(
        "the job's checkpoint has a --since-column value but this run has no --since-column: " +
          "give the same --since-column, or rerun with --from-start",
      );
    }
    return [after.id];
  }
  if (after.since === undefined) {
    throw new UserError(
      `the job's checkpoint has no --since-column value but this run orders by ${plan.sinceColumn}: ` +
        "rerun with --from-start (upserts make the rescore harmless)",
    );
  }
  return [after.since, after.id];
}

/** WHERE clause (or "") for the rows after `after` in `partition`. */
function where(
  dialect: SqlDialect,
  params: Params,
  plan: ReadPlan,
  after: Checkpoint | undefined,
  partition: Partition | undefined,
): string {
  // Rows with a NULL key have no place in the keyset order, so they are not read here: each
  // run reports them as rejects instead (nullIdStatement, nullSinceStatement).
  const conditions = plan.keys.map((key) => `${key} IS NOT NULL`);
  if (after !== undefined) {
    const values = afterValues(plan, after).map((value) => params.add(value));
    // Row-value comparison: one index range scan on (since, id); SQLite has it since 3.15.
    conditions.push(
      plan.keys.length === 1
        ? `${plan.keys[0]} > ${values[0]}`
        : `(${plan.keys.join(", ")}) > (${values.join(", ")})`,
    );
  }
  if (partition !== undefined) {
    checkPartition(partition);
    const count = params.add(partition.count);
    const index = params.add(partition.index);
    conditions.push(dialect.partition(column(plan.idColumn), count, index));
  }
  return `WHERE ${conditions.join(" AND ")}`;
}

export interface Statement {
  sql: string;
  values: unknown[];
}

/** One chunk: the `chunkSize` rows after `after`, in keyset order. */
export function chunkStatement(
  dialect: SqlDialect,
  from: string,
  plan: ReadPlan,
  options: { after?: Checkpoint; partition?: Partition; chunkSize: number },
): Statement {
  if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1) {
    throw new UserError(`--chunk-size ${options.chunkSize}: need a whole number >= 1`);
  }
  const params = new Params(dialect);
  const filter = where(dialect, params, plan, options.after, options.partition);
  const limit = params.add(options.chunkSize);
  return {
    sql: `SELECT ${plan.select} FROM ${from} AS src ${filter} ORDER BY ${plan.keys.join(", ")} LIMIT ${limit}`,
    values: params.values,
  };
}

/** How many rows a read with these options returns. */
export function countStatement(
  dialect: SqlDialect,
  from: string,
  plan: ReadPlan,
  options: { after?: Checkpoint; partition?: Partition },
): Statement {
  const params = new Params(dialect);
  const filter = where(dialect, params, plan, options.after, options.partition);
  return { sql: `SELECT count(*) FROM ${from} AS src ${filter}`, values: params.values };
}

/**
 * Rows with a NULL id (outside the keyset: see readNullKeys), page `offset / chunkSize`. They
 * have no key to page by, so pages go by offset, in since order where there is one.
 */
export function nullIdStatement(
  dialect: SqlDialect,
  from: string,
  plan: ReadPlan,
  options: { chunkSize: number; offset: number },
): Statement {
  const params = new Params(dialect);
  const limit = params.add(options.chunkSize);
  const offset = params.add(options.offset);
  return {
    sql: `SELECT ${plan.select} FROM ${from} AS src WHERE ${column(plan.idColumn)} IS NULL ORDER BY ${plan.keys.join(", ")} LIMIT ${limit} OFFSET ${offset}`,
    values: params.values,
  };
}

/** Rows with an id but a NULL since value, in id order after `afterId`, in `partition`. */
export function nullSinceStatement(
  dialect: SqlDialect,
  from: string,
  plan: ReadPlan,
  options: { afterId?: unknown; partition?: Partition; chunkSize: number },
): Statement {
  if (plan.sinceColumn === undefined) throw new Error("nullSinceStatement needs a since column");
  const params = new Params(dialect);
  const id = column(plan.idColumn);
  const conditions = [`${column(plan.sinceColumn)} IS NULL`, `${id} IS NOT NULL`];
  if (options.afterId !== undefined) conditions.push(`${id} > ${params.add(options.afterId)}`);
  if (options.partition !== undefined) {
    checkPartition(options.partition);
    const count = params.add(options.partition.count);
    const index = params.add(options.partition.index);
    conditions.push(dialect.partition(id, count, index));
  }
  const limit = params.add(options.chunkSize);
  return {
    sql: `SELECT ${plan.select} FROM ${from} AS src WHERE ${conditions.join(" AND ")} ORDER BY ${id} LIMIT ${limit}`,
    values: params.values,
  };
}
