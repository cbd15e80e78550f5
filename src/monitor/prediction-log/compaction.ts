/**
 * Compaction: once an hour is over, a process merges its own part files of that hour into one
 * file <hh>-<host>-<pid>.parquet (compressed, by DuckDB), so that an hour of a process is one
 * file instead of one per flush.
 *
 * The switch is safe for a reader at every instant, even across kill -9:
 * 1. the merged file is written under a temporary name (readers skip it) and renamed into
 *    place (atomic); its footer says the highest part number it holds (META.mergedThrough);
 * 2. from then on readers ignore the process's parts of that hour up to that number (reader.ts),
 *    so the rows are counted once whether the parts are still there or not;
 * 3. the parts are deleted afterwards (after a grace period for readers that listed them
 *    just before the rename and are still reading them).
 * A process that reuses the host and pid of an earlier one within the same hour (a container
 * restarted) continues the part numbers and merges the earlier merged file with its own parts.
 * The parts of a process that is gone (kill -9, out of memory, a crash) are merged by another
 * running writer once the hour is over (orphans.ts): under the key's own merged name, with the
 * same footer, so the reader and the continuation above see no difference; two processes
 * adopting the same key at once are safe (see orphans.ts).
 */
import { readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import {
  META,
  PREDICTION_LOG_FORMAT_VERSION,
  TEMP_SUFFIX,
  mergedFileName,
  parseLogFileName,
} from "./schema.js";

/** The files of one process and hour in a folder, as its names say. */
export interface HourFiles {
  merged?: string;
  /** Parts by sequence number. */
  parts: Array<{ file: string; seq: number }>;
}

export async function listHourFiles(folder: string, key: string): Promise<HourFiles> {
  const found: HourFiles = { parts: [] };
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    const parsed = parseLogFileName(name);
    if (parsed?.key !== key) continue;
    if (parsed.seq === undefined) found.merged = path.join(folder, name);
    else found.parts.push({ file: path.join(folder, name), seq: parsed.seq });
  }
  found.parts.sort((a, b) => a.seq - b.seq);
  return found;
}

/** A file's footer key-value metadata. */
export async function footerMetadata(
  connection: DuckDBConnection,
  file: string,
): Promise<Map<string, string>> {
  const reader = await connection.runAndReadAll(
    `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(file)})`,
  );
  return new Map(
    reader.getRowObjects().map((row) => [String(row.key), String(row.value)] as const),
  );
}

/** The highest part number a merged file holds (0 when it says none). */
export async function mergedThrough(connection: DuckDBConnection, file: string): Promise<number> {
  const value = (await footerMetadata(connection, file)).get(META.mergedThrough);
  return value === undefined ? 0 : Number(value);
}

export interface Compacted {
  /** The merged file, when this pass wrote one. */
  merged?: string;
  rows: number;
  /** Parts now held by the merged file: to delete (after the grace period). */
  obsolete: string[];
}

/**
 * Merges the parts of `key` (<hh>-<host>-<pid>) in `folder` into its merged file, written first
 * as `temp` (a name in `folder`; default the key's own <key>.parquet.tmp). Throws (and leaves
 * every part in place) when a part cannot be read, the row counts do not match, or the merged
 * file was replaced while this merge read it.
 */
export async function compactHour(
  connection: DuckDBConnection,
  folder: string,
  key: string,
  temp = path.join(folder, key + TEMP_SUFFIX),
): Promise<Compacted> {
  const { merged, parts } = await listHourFiles(folder, key);
  const through = merged === undefined ? 0 : await mergedThrough(connection, merged);
  const obsolete = parts.filter((part) => part.seq <= through).map((part) => part.file);
  const fresh = parts.filter((part) => part.seq > through);
  if (fresh.length === 0) return { rows: 0, obsolete };
  const inputs = [...(merged ? [merged] : []), ...fresh.map((part) => part.file)];
  const list = `[${inputs.map(sqlString).join(", ")}]`;

  const versions = new Set<string>();
  let model: string | undefined;
  const columns = { inputs: new Map<string, unknown>(), outputs: new Map<string, unknown>() };
  for (const file of inputs) {
    const meta = await footerMetadata(connection, file);
    if (meta.get(META.format) !== String(PREDICTION_LOG_FORMAT_VERSION))
      throw new Error(
        `${file} is not a prediction log file of format ${PREDICTION_LOG_FORMAT_VERSION}`,
      );
    model ??= meta.get(META.model);
    for (const version of (meta.get(META.version) ?? "").split(","))
      if (version) versions.add(version);
    for (const side of ["inputs", "outputs"] as const) {
      const listed = JSON.parse(meta.get(META[side]) ?? "[]") as Array<{ name: string }>;
      for (const column of listed) columns[side].set(column.name, column);
    }
  }
  const expected = Number(
    (
      await connection.runAndReadAll(
        `SELECT sum(num_rows)::BIGINT AS n FROM parquet_file_metadata(${list})`,
      )
    ).getRowObjects()[0].n,
  );
  const metadata = {
    [META.format]: String(PREDICTION_LOG_FORMAT_VERSION),
    [META.model]: model ?? "",
    [META.version]: [...versions].join(","),
    [META.inputs]: JSON.stringify([...columns.inputs.values()]),
    [META.outputs]: JSON.stringify([...columns.outputs.values()]),
    [META.mergedThrough]: String(fresh[fresh.length - 1].seq),
  };
  const kv = Object.entries(metadata)
    .map(([name, value]) => `${sqlIdentifier(name)}: ${sqlString(value)}`)
    .join(", ");
  const target = path.join(folder, mergedFileName(key));
  try {
    const result = await connection.run(
      `COPY (SELECT * FROM read_parquet(${list}, union_by_name = true)) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd, KV_METADATA {${kv}})`,
    );
    const rows = result.rowsChanged;
    if (rows !== expected)
      throw new Error(`merging ${inputs.length} files wrote ${rows} rows, they hold ${expected}`);
    // Another process adopting the same orphaned key (orphans.ts) may have renamed its merged
    // file into place since `through` was read: then what was read as the old merged file may
    // already hold the fresh parts (rows twice). A merged file's mergedThrough only grows, so
    // finding it unchanged now means the file read was the one listed.
    if (merged !== undefined && (await mergedThrough(connection, merged)) !== through)
      throw new ReplacedWhileMerging(merged);
    await rename(temp, target);
    return {
      merged: target,
      rows,
      obsolete: [...obsolete, ...fresh.map((part) => part.file)],
    };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The merged file changed under a merge: another process merged the same parts (nothing lost). */
export class ReplacedWhileMerging extends Error {
  constructor(readonly file: string) {
    super(`${file} was replaced by another process's merge while this one read it`);
  }
}
