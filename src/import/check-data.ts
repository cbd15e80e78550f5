import { readFile } from "node:fs/promises";
import path from "node:path";
import { ImportError } from "./types.js";

/** Rows `--check` reads at most: enough for a verdict, bounded in memory and Python time. */
export const MAX_CHECK_ROWS = 100_000;

/**
 * The request rows of `--check <data>`: CSV or Parquet read by DuckDB (as batch reads files),
 * or JSON Lines (.jsonl / .ndjson / .json: one object per line).
 */
export async function readCheckRows(
  file: string,
  limit = MAX_CHECK_ROWS,
): Promise<Record<string, unknown>[]> {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson" || ext === ".json") return readJsonLines(file, limit);
  if (ext !== ".csv" && ext !== ".parquet" && ext !== ".pq") {
    throw new ImportError(
      `--check ${file}: give a .csv, .parquet or .jsonl file of request rows (one column per request field)`,
    );
  }
  // Loaded on demand: an import without --check <csv|parquet> never loads DuckDB.
  const { sqlString, withDuckDB } = await import("../duckdb/index.js");
  return withDuckDB(async (connection) => {
    const literal = sqlString(file);
    const reader = ext === ".csv" ? `read_csv_auto(${literal})` : `read_parquet(${literal})`;
    const reply = await connection
      .runAndReadAll(`SELECT * FROM ${reader} LIMIT ${Math.floor(limit)}`)
      .catch((error: unknown) => {
        throw new ImportError(
          `--check ${file}: cannot be read: ${(error as Error).message.split("\n")[0]}`,
        );
      });
    return reply
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(
          Object.entries(row).map(([key, value]) => [
            key,
            typeof value === "bigint" ? Number(value) : value,
          ]),
        ),
      );
  });
}

async function readJsonLines(file: string, limit: number): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, "utf8").catch(() => {
    throw new ImportError(`--check ${file}: cannot be read`);
  });
  const rows: Record<string, unknown>[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && rows.length < limit; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ImportError(`--check ${file}: line ${i + 1} is not valid JSON`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ImportError(`--check ${file}: line ${i + 1} is not a JSON object`);
    }
    rows.push(value as Record<string, unknown>);
  }
  if (!rows.length) throw new ImportError(`--check ${file}: holds no rows`);
  return rows;
}
