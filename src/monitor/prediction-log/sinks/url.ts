/**
 * Where the prediction log's finished parts are copied to (--log-predictions-to): an S3 prefix
 * (`s3://bucket/prefix`) or a PostgreSQL table (`postgres://user@host/db?table=schema.name`).
 * Parsed once, at settings time, so a typo is a UserError naming the setting before anything
 * starts.
 */
import { UserError } from "../../../config/errors.js";
import { RegistryError } from "../../../registry/errors.js";
import { formatArtifactUri, parseArtifactUri } from "../../../registry/artifacts/uri.js";

export const DEFAULT_TABLE = "prediction_log";

/** The suffix of the bookkeeping table (which parts are in) next to the log's table. */
export const PARTS_TABLE_SUFFIX = "_parts";

/** PostgreSQL's NAMEDATALEN - 1: longer names are cut silently, so two could collide. */
export const MAX_IDENTIFIER_LENGTH = 63;

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface TableName {
  schema?: string;
  name: string;
}

export type SinkTarget =
  | {
      kind: "s3";
      /** s3://bucket/prefix without a trailing slash ("s3://bucket" for the bucket's root). */
      uri: string;
    }
  | {
      kind: "postgres";
      /** The connection string for pg, without the `table` parameter. */
      connection: string;
      table: TableName;
      /** For logs and errors: no password. */
      description: string;
    };

/**
 * Parses a sink URL; `setting` names where it came from in the error messages ("" when the
 * caller names it itself, as the settings' validation does).
 */
export function parseSinkUrl(url: string, setting = "logPredictionsTo"): SinkTarget {
  const prefix = setting === "" ? "" : `${setting}: `;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === "s3") {
    try {
      const location = parseArtifactUri(url);
      return { kind: "s3", uri: formatArtifactUri(location) };
    } catch (error) {
      if (error instanceof RegistryError)
        throw new UserError(`${prefix}${error.message}`, { cause: error });
      throw error;
    }
  }
  if (scheme === "postgres" || scheme === "postgresql") return parsePostgres(url, prefix);
  throw new UserError(
    `${prefix}${JSON.stringify(redact(url))} is not a prediction log sink: use s3://bucket/prefix or postgres://user@host/db?table=prediction_log`,
  );
}

function parsePostgres(url: string, prefix: string): SinkTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${prefix}${JSON.stringify(redact(url))} is not a valid URL`);
  }
  const given = parsed.searchParams.get("table") ?? DEFAULT_TABLE;
  const table = tableName(given, prefix);
  // pg passes unknown parameters on to the server as options; `table` is ours.
  parsed.searchParams.delete("table");
  const connection = parsed.toString();
  const shown = new URL(connection);
  shown.password = "";
  shown.search = "";
  return {
    kind: "postgres",
    connection,
    table,
    description: `${shown.toString()} table ${displayTable(table)}`,
  };
}

/**
 * `table` or `schema.table`, plain identifiers only (they go into SQL text, where no bind
 * parameter can stand), short enough that the bookkeeping table's name still fits.
 */
export function tableName(value: string, prefix = "logPredictionsTo: "): TableName {
  const parts = value.split(".");
  const longest = MAX_IDENTIFIER_LENGTH - PARTS_TABLE_SUFFIX.length;
  const ok =
    parts.length <= 2 &&
    parts.every((part) => PLAIN.test(part) && part.length <= MAX_IDENTIFIER_LENGTH) &&
    parts[parts.length - 1].length <= longest;
  if (!ok)
    throw new UserError(
      `${prefix}table ${JSON.stringify(value)} is not a plain SQL table name (table or schema.table: letters, digits and _, not starting with a digit, the table at most ${longest} characters)`,
    );
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
}

export function displayTable(table: TableName): string {
  return table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
}

/** A URL as it may be shown: without a password. */
export function redact(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/, "$1:***@");
}
