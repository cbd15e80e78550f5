/**
 * The file sink's final merge: all committed parts into the target file with one DuckDB COPY,
 * one row per key (the latest scored winning), written to a temp file and renamed; and the
 * clean-up of temp files that killed merges left.
 */
import { randomBytes } from "node:crypto";
import { copyFile, link, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../../config/errors.js";
import { firstLine, sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import { storageError } from "../storage-fault.js";
import { syncFile } from "./commit-record.js";
import type { FileFormat } from "./format.js";
import type { ColumnType } from "./output-types.js";

/** Column of read_parquet(filename = …) in the merge; odd enough not to meet a real column. */
const PART_FILE = "__mldeploy_part_file";

/** How parts merge: their key, the column whose latest value wins, the recorded types. */
export interface MergeSpec {
  key: string[];
  latest: string;
  types: Record<string, ColumnType>;
  /** The parts in name order are already unique by key and sorted by it. */
  inOrder?: boolean;
  /** The parts are Parquet v1 in their final types (PartsWrite). */
  finalParts?: boolean;
}

export async function mergeParts(
  connection: DuckDBConnection,
  sink: { format: FileFormat; description: string },
  parts: string[],
  target: string,
  spec: MergeSpec,
): Promise<number> {
  // An explicit file list (not a glob) so uncommitted parts of running jobs stay out.
  const list = `[${parts.sort().map(sqlString).join(", ")}]`;
  const reader = `read_parquet(${list}, union_by_name = true, filename = ${sqlString(PART_FILE)})`;
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${reader}`);
  let retyped = false;
  const select = described
    .getRowObjectsJson()
    .filter((row) => row.column_name !== PART_FILE)
    .map((row) => {
      const name = String(row.column_name);
      const want = spec.types[name];
      if (!want || want === row.column_type) return sqlIdentifier(name);
      // A part whose column was all null was written as VARCHAR; the recorded type restores it.
      retyped = true;
      return `TRY_CAST(${sqlIdentifier(name)} AS ${want}) AS ${sqlIdentifier(name)}`;
    });
  const lonePart = parts.length === 1 && sink.format === "parquet";
  if (lonePart && spec.inOrder === true && spec.finalParts === true && !retyped) {
    return publishAsIs(connection, parts[0], target, sink.description);
  }
  const key = spec.key.map(sqlIdentifier).join(", ");
  // Ties on the timestamp go to the later part (names sort by job, then sequence).
  const latest = `${sqlIdentifier(spec.latest)} DESC, ${sqlIdentifier(PART_FILE)} DESC`;
  // Keys repeat only after a rescore or when an updated source row was read again: counting
  // them first spares the deduplicating window (most of the merge's time) otherwise. Ids alone
  // are counted first, reading one column: when no id repeats, no key does.
  const repeats = async (columns: string): Promise<boolean> => {
    const result = await connection.runAndReadAll(
      `SELECT count(*) <> count(DISTINCT ${columns}) FROM ${reader}`,
    );
    return result.getRows()[0][0] === true;
  };
  const dedupe =
    spec.inOrder !== true &&
    (await repeats(sqlIdentifier(spec.key[0]))) &&
    (await repeats(`(${key})`));
  // Without ORDER BY, DuckDB keeps the files' order (preserve_insertion_order).
  const order = spec.inOrder === true ? "" : `ORDER BY ${key}`;
  const options = sink.format === "csv" ? "FORMAT csv, HEADER true" : "FORMAT parquet";
  const tmp = mergeTemp(target);
  try {
    const result = await connection.run(
      `COPY (SELECT ${select.join(", ")} FROM ${reader}
             ${dedupe ? `QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${latest}) = 1` : ""}
             ${order})
       TO ${sqlString(tmp)} (${options})`,
    );
    await syncFile(tmp);
    await rename(tmp, target);
    return Number(result.rowsChanged);
  } catch (error) {
    await rm(tmp, { force: true });
    throw mergeError(error, sink.description, target);
  } finally {
    mergeTemps.delete(tmp);
  }
}

async function publishAsIs(
  connection: DuckDBConnection,
  part: string,
  target: string,
  description: string,
): Promise<number> {
  const tmp = mergeTemp(target);
  try {
    await link(part, tmp).catch(() => copyFile(part, tmp));
    await syncFile(tmp);
    await rename(tmp, target);
    const counted = await connection.runAndReadAll(
      `SELECT count(*) FROM read_parquet(${sqlString(target)})`,
    );
    return Number(counted.getRows()[0][0]);
  } catch (error) {
    await rm(tmp, { force: true });
    throw mergeError(error, description, target);
  } finally {
    mergeTemps.delete(tmp);
  }
}

export async function removeMergeLeftovers(targets: string[]): Promise<void> {
  for (const target of targets) {
    const dir = path.dirname(target);
    const leftover = new RegExp(
      `^${escapeRegExp(path.basename(target))}\\.tmp-(\\d+)-[0-9a-f]{8}$`,
    );
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const pid = Number(leftover.exec(name)?.[1]);
      const file = path.join(dir, name);
      if (!Number.isSafeInteger(pid) || pid <= 0 || mergeTemps.has(file)) continue;
      if (pid !== process.pid && processExists(pid)) continue;
      await rm(file, { force: true });
    }
  }
}

/** A failed merge: the machine's refusal named as such, anything else as before. */
function mergeError(error: unknown, description: string, target: string): Error {
  const fault = storageError(error, description, target);
  if (fault !== error) return fault as Error;
  return new UserError(`${description}: merge failed (${firstLine(error)})`, { cause: error });
}

/** Temp files that merges of this process are writing now. */
const mergeTemps = new Set<string>();

/** A merge's temp file next to `target`, named after this process (see removeMergeLeftovers). */
function mergeTemp(target: string): string {
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  mergeTemps.add(tmp);
  return tmp;
}

/** Whether a process with this pid runs on this machine (EPERM: it does, as another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
