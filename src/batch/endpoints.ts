import { UserError } from "../config/errors.js";
import type { BatchSink, BatchSource } from "./types.js";

const SQL_URL = /^(sqlite|postgres|postgresql):/i;

/** Opens the source a --source URL names: SQL databases by URL, anything else as Parquet/CSV files. */
export async function openBatchSource(
  url: string,
  options: { table?: string; query?: string },
): Promise<BatchSource> {
  if (SQL_URL.test(url)) {
    const { openSqlSource } = await import("./sql/index.js");
    return openSqlSource(url, options);
  }
  const { openFileSource, parseFileLocation } = await import("./files/index.js");
  if (parseFileLocation(url) === undefined) throw unsupported("--source", url);
  if (options.table !== undefined) {
    throw new UserError(
      `--table applies to database sources; ${url} is read as files (use --query to shape them)`,
    );
  }
  return openFileSource(url, { query: options.query });
}

/** Opens the sink a --sink URL names (a SQL table, or a Parquet/CSV file). */
export async function openBatchSink(url: string, options: { table?: string }): Promise<BatchSink> {
  if (SQL_URL.test(url)) {
    const { openSqlSink } = await import("./sql/index.js");
    return openSqlSink(url, options);
  }
  const { openFileSink, parseFileLocation } = await import("./files/index.js");
  if (parseFileLocation(url) === undefined) throw unsupported("--sink", url);
  return openFileSink(url);
}

function unsupported(flag: string, url: string): UserError {
  return new UserError(
    `${flag} ${url}: not a database or file this job can use; give sqlite:<file>, postgres://user@host/db, or Parquet/CSV files (a .parquet or .csv path or glob, parquet:<path>, csv:<path>)`,
  );
}
