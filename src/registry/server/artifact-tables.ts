/**
 * The first rows of a CSV or Parquet artifact as a table (columns, types, rows), for the web
 * UI's viewer. CSV is parsed as it streams in and the read stops after the rows wanted; Parquet
 * keeps its schema in a footer at the end of the file, so the file is copied (up to a cap) to a
 * temporary file and read by DuckDB, which reads only the row groups the rows need.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CsvError, parse } from "csv-parse/sync";
import { RegistryError } from "../errors.js";
import { readHead } from "./artifact-files.js";

/** A table head: `rows` are the first rows of the file, each as long as `columns`. */
export interface TableHead {
  format: "csv" | "parquet";
  columns: string[];
  /** DuckDB's type names for Parquet; "VARCHAR" for every CSV column (CSV has no types). */
  types: string[];
  rows: unknown[][];
  /** Whether the file has more rows than answered. */
  truncated: boolean;
  /** Rows in the whole file, when known without reading it all (Parquet's footer). */
  totalRows: number | null;
}

/** The most of a CSV file read for a head: 100 rows of all but the widest tables fit. */
export const MAX_CSV_HEAD_BYTES = 1024 * 1024;
/** The largest Parquet file whose head is shown (it is copied whole to a temporary file). */
export const MAX_PARQUET_BYTES = 512 * 1024 * 1024;

export function tableFormatOf(relative: string): "csv" | "tsv" | "parquet" | undefined {
  const extension = path.posix.extname(relative).slice(1).toLowerCase();
  if (extension === "csv" || extension === "tsv" || extension === "parquet") return extension;
  return undefined;
}

function unreadable(relative: string, why: string): RegistryError {
  return new RegistryError("ARTIFACT_CORRUPT", `cannot read "${relative}" as a table: ${why}`);
}

/**
 * The header and first `rows` records of a CSV (or TSV) stream, from its first
 * MAX_CSV_HEAD_BYTES (the rest is not read). Rows of another length than the header are kept as
 * they are: a viewer shows what is there.
 */
export async function csvHead(
  stream: Readable,
  relative: string,
  rows: number,
  delimiter: "," | "\t",
): Promise<TableHead> {
  const head = await readHead(stream, MAX_CSV_HEAD_BYTES);
  let bytes = head.bytes;
  if (head.truncated) {
    // The last line was cut: it is not shown as a (short) row.
    const end = bytes.lastIndexOf(0x0a);
    if (end > 0) bytes = bytes.subarray(0, end + 1);
  }
  let records: string[][];
  try {
    records = parse(bytes, {
      bom: true,
      delimiter,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      // The header, the rows wanted, and one more to know whether there are more.
      to: rows + 2,
    }) as string[][];
  } catch (error) {
    if (error instanceof CsvError) throw unreadable(relative, error.message);
    throw error;
  }
  const [header = [], ...body] = records;
  const more = body.length > rows || head.truncated;
  return {
    format: "csv",
    columns: header,
    types: header.map(() => "VARCHAR"),
    rows: body.slice(0, rows),
    truncated: more,
    totalRows: more ? null : body.length,
  };
}

/** The schema and first `rows` rows of a Parquet stream (copied to a temporary file first). */
export async function parquetHead(
  stream: Readable,
  relative: string,
  rows: number,
): Promise<TableHead> {
  const dir = await mkdtemp(path.join(tmpdir(), "mldeploy-parquet-head-"));
  const file = path.join(dir, "head.parquet");
  try {
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > MAX_PARQUET_BYTES) {
          return done(
            new RegistryError(
              "INVALID_VALUE",
              `"${relative}" is larger than ${MAX_PARQUET_BYTES} bytes: download it to look ` +
                "inside (the head of a Parquet file needs its footer, at the end)",
            ),
          );
        }
        done(null, chunk);
      },
    });
    await pipeline(stream, limit, createWriteStream(file, { flags: "wx" }));
    // Loaded on the first Parquet head: the server does not load DuckDB's native library
    // for anything else.
    const { firstLine, sqlString, withDuckDB } = await import("../../duckdb/index.js");
    return await withDuckDB(async (connection) => {
      try {
        const source = `read_parquet(${sqlString(file)})`;
        const reader = await connection.runAndReadAll(`SELECT * FROM ${source} LIMIT ${rows}`);
        const count = await connection.runAndReadAll(`SELECT count(*) FROM ${source}`);
        const totalRows = Number(count.getRows()[0][0]);
        return {
          format: "parquet",
          columns: reader.columnNames(),
          types: reader.columnTypes().map((type) => type.toString()),
          rows: reader.getRowsJson(),
          truncated: totalRows > rows,
          totalRows,
        } satisfies TableHead;
      } catch (error) {
        throw unreadable(relative, firstLine(error));
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
