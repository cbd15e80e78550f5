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
  const { openFileSource } = await import("./files/index.js");
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
  const { openFileSink } = await import("./files/index.js");
  return openFileSink(url);
}
