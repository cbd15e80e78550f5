/** Parquet and CSV files a user names as a source: format, existence, columns. */
import { stat } from "node:fs/promises";
import { UserError } from "../../../config/errors.js";
import { firstLine, sqlString } from "../../../duckdb/index.js";
import type { SourceContext } from "./context.js";

export type FileFormat = "parquet" | "csv";

/** parquet / csv from the extension (also of a glob), or undefined. */
export function fileFormatOf(file: string): FileFormat | undefined {
  if (/\.parquet$/i.test(file)) return "parquet";
  if (/\.(csv|tsv)(\.gz|\.zst)?$/i.test(file)) return "csv";
  return undefined;
}

/** read_parquet(…) / read_csv(…) of a file the user named, checked to exist (unless a glob). */
export async function fileReader(file: string, flag: string): Promise<string> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(file)?.[1];
  if (scheme !== undefined)
    throw new UserError(
      `${flag} ${file}: unsupported URL scheme "${scheme}://" (sqlite:<file>, postgres://…, or a .parquet/.csv file)`,
    );
  const format = fileFormatOf(file);
  if (!format)
    throw new UserError(
      `${flag} ${file}: not a sqlite: or postgres:// URL, and not a .parquet or .csv file`,
    );
  if (!/[*?[{]/.test(file)) {
    const info = await stat(file).catch(() => undefined);
    if (!info) throw new UserError(`${flag} ${file}: no such file`);
    if (!info.isFile()) throw new UserError(`${flag} ${file}: is not a file`);
  }
  return format === "parquet"
    ? `read_parquet(${sqlString(file)})`
    : `read_csv(${sqlString(file)}, header = true)`;
}

/** Column names of a DuckDB FROM body, or a UserError naming the flag. */
export async function describeFrom(
  ctx: SourceContext,
  from: string,
  what: string,
): Promise<string[]> {
  try {
    const reader = await ctx.connection.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`);
    return reader.getRowObjectsJson().map((row) => String(row.column_name));
  } catch (error) {
    throw new UserError(`${what}: cannot read (${firstLine(error)})`, { cause: error });
  }
}
