/**
 * The prediction log as a PostgreSQL table: one table for every model and version, holding the
 * union of their columns (a version that brings a new input adds a column, NULL in older rows,
 * as read_parquet(union_by_name) reads the files), and a bookkeeping table `<table>_parts`
 * with one row per part copied in, so a part sent twice (a retry after a lost COMMIT answer, a
 * restart, two processes catching up the same leftovers) is inserted once. It also keeps each
 * part's model columns and types, which the export back to Parquet writes in the footer.
 */
import type pg from "pg";
import type { LoggedColumn } from "../schema.js";
import { MAX_IDENTIFIER_LENGTH, PARTS_TABLE_SUFFIX, type TableName } from "./url.js";

/** A model column as the part's footer names it: DuckDB type. */
export interface FooterColumn {
  name: string;
  type: LoggedColumn["sqlType"];
}

export const POSTGRES_TYPES: Record<LoggedColumn["sqlType"], string> = {
  BIGINT: "bigint",
  INTEGER: "integer",
  DOUBLE: "double precision",
  FLOAT: "real",
  VARCHAR: "text",
  BOOLEAN: "boolean",
};

/** `"name"`, quotes doubled: model column names come from signatures, not from flags. */
export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualified(table: TableName): string {
  return table.schema === undefined
    ? quote(table.name)
    : `${quote(table.schema)}.${quote(table.name)}`;
}

export function partsTable(table: TableName): TableName {
  return { ...table, name: table.name + PARTS_TABLE_SUFFIX };
}

/** A column the table cannot hold (a name too long, another type under the same name). */
export class ColumnConflict extends Error {}

export function checkColumnName(name: string): void {
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_LENGTH || name.includes("\0"))
    throw new ColumnConflict(
      `column "${name}" cannot be a PostgreSQL column (at most ${MAX_IDENTIFIER_LENGTH} bytes, no NUL)`,
    );
}

/** Creates the tables (and schema) if missing: under an advisory lock, so workers do not race. */
export async function createTables(client: pg.ClientBase, table: TableName): Promise<void> {
  const parts = partsTable(table);
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [
      `mldeploy prediction log ${table.schema ?? ""}.${table.name}`,
    ]);
    if (table.schema !== undefined)
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quote(table.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualified(table)} (
         "time" timestamptz NOT NULL,
         model text NOT NULL,
         version text NOT NULL,
         mode text NOT NULL,
         id text
       )`,
    );
    await client.query(
      `CREATE INDEX IF NOT EXISTS ${quote(`${table.name}_mvt`)} ON ${qualified(table)} (model, version, "time")`,
    );
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualified(parts)} (
         key text PRIMARY KEY,
         model text NOT NULL,
         version text NOT NULL,
         rows bigint NOT NULL,
         inputs text NOT NULL,
         outputs text NOT NULL,
         first_time timestamptz,
         last_time timestamptz,
         published_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The table's columns and their types (information_schema's data_type). */
export async function tableColumns(
  client: pg.ClientBase,
  table: TableName,
): Promise<Map<string, string>> {
  const result = await client.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2`,
    [table.schema ?? null, table.name],
  );
  return new Map(result.rows.map((row) => [row.column_name, row.data_type]));
}

/**
 * Adds the model columns the table lacks; a column that exists with another type is a
 * ColumnConflict (the part cannot go in: it stays local, with a warning).
 */
export async function addColumns(
  client: pg.ClientBase,
  table: TableName,
  columns: FooterColumn[],
): Promise<void> {
  for (const column of columns) checkColumnName(column.name);
  let existing = await tableColumns(client, table);
  const missing = columns.filter((column) => !existing.has(column.name));
  if (missing.length > 0) {
    await client.query(
      `ALTER TABLE ${qualified(table)} ${missing
        .map(
          (column) =>
            `ADD COLUMN IF NOT EXISTS ${quote(column.name)} ${POSTGRES_TYPES[column.type]}`,
        )
        .join(", ")}`,
    );
    existing = await tableColumns(client, table);
  }
  for (const column of columns) {
    const type = existing.get(column.name);
    if (type !== POSTGRES_TYPES[column.type])
      throw new ColumnConflict(
        `column "${column.name}" is ${type ?? "missing"} in the table, the part holds ${POSTGRES_TYPES[column.type]}`,
      );
  }
}
