import { UserError } from "../../config/errors.js";

/**
 * Table and column names come from flags and config files and end up inside SQL text (they
 * cannot be bind parameters), so only plain identifiers are accepted: no quotes, spaces,
 * semicolons or comments can reach the statement. Accepted names are then always quoted,
 * which keeps their case on PostgreSQL and lets reserved words (`user`, `order`) through.
 */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated, so two could collide. */
export const MAX_IDENTIFIER_LENGTH = 63;

/** A table, optionally in a schema (PostgreSQL) or attached database (SQLite). */
export interface TableName {
  schema?: string;
  name: string;
}

function plain(value: string): boolean {
  return PLAIN.test(value) && value.length <= MAX_IDENTIFIER_LENGTH;
}

function refuse(flag: string, value: string, what: string): UserError {
  return new UserError(
    `${flag} ${JSON.stringify(value)} is not ${what}: use letters, digits and _, not starting ` +
      `with a digit, at most ${MAX_IDENTIFIER_LENGTH} characters`,
  );
}

/** Returns `value` if it is a plain column name, else a UserError naming the flag. */
export function columnName(value: string, flag: string): string {
  if (!plain(value)) throw refuse(flag, value, "a plain SQL column name");
  return value;
}

/** Parses `table` or `schema.table`, refusing anything else with a UserError naming the flag. */
export function tableName(value: string, flag: string): TableName {
  const parts = value.split(".");
  if (parts.length > 2 || !parts.every(plain)) {
    throw refuse(flag, value, "a plain SQL table name (table or schema.table)");
  }
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
}

/**
 * `"name"`. Names reaching here were validated; doubling quotes anyway means a name that
 * skipped validation still cannot end the quoted identifier early.
 */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"` or `"table"`. */
export function qualified(table: TableName): string {
  return table.schema === undefined
    ? quote(table.name)
    : `${quote(table.schema)}.${quote(table.name)}`;
}

/** `schema.table` as the user wrote it, for messages. */
export function displayName(table: TableName): string {
  return table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
}

/** A table next to `table` (same schema), e.g. `<table>_rejects`. */
export function sibling(table: TableName, name: string): TableName {
  return table.schema === undefined ? { name } : { schema: table.schema, name };
}
