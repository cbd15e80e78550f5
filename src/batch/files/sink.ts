import { createHash, randomBytes } from "node:crypto";
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import {
  BOOLEAN,
  DOUBLE,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBVector,
} from "@duckdb/node-api";
import { UserError } from "../../config/errors.js";
import { storageError } from "../storage-fault.js";
import type {
  BatchSink,
  Checkpoint,
  InPlaceJob,
  InPlaceResult,
  KeyValue,
  PredictionChunk,
  SinkWrite,
} from "../types.js";
import type { PredictionValues } from "../../model/types.js";
import { NumericColumn, valueAt, type ColumnData } from "../columns.js";
import { closeDuckDB, openDuckDB, type DuckDBSettings } from "../../duckdb/instance.js";
import { firstLine, sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import { doubleData } from "../../duckdb/vectors.js";
import { formatFromPath, type FileFormat } from "./format.js";
import { StagedScan, type StagedColumn } from "./staged-scan.js";

export interface FileSinkOptions extends DuckDBSettings {
  /** The merged predictions file (e.g. `predictions.parquet`). */
  path: string;
  /** Default: from the extension. */
  format?: FileFormat;
  /**
   * Also merge the parts into `path` on close() when this sink wrote anything since the last
   * finalize() (default false: the runner calls finalize() after a successful run, and a close()
   * after a failure should only release resources). With N partition workers sharing one
   * target, the complete file is the one merged after the last worker has committed.
   */
  finalizeOnClose?: boolean;
}

export interface FinalizeResult {
  path: string;
  /** Rows in the merged predictions file (one per id and model version). */
  rows: number;
  /** The rejects file, when any chunk had rejects. */
  rejectsPath?: string;
  rejects: number;
}

/** Column types of the output files, as in the contract (Date → TIMESTAMP, UTC). */
export type ColumnType = "BIGINT" | "DOUBLE" | "VARCHAR" | "BOOLEAN" | "TIMESTAMP";

/** One job's progress, stored in its own file so concurrent partition workers never race. */
interface JobState {
  jobId: string;
  checkpoint?: Checkpoint;
  /** Number of the last committed chunk; parts numbered above it are leftovers of a crash. */
  sequence: number;
  idColumn?: string;
  /** Output column types, fixed by the first non-null values seen (see mergeType). */
  types: Record<string, ColumnType>;
  /**
   * True while every id this job wrote was a number greater than the one before (a plain keyset
   * read): its parts, concatenated in sequence order, are then already unique and sorted.
   */
  ascending?: boolean;
  /** The last id written, to carry `ascending` across chunks and runs. */
  lastId?: KeyValue;
  /**
   * True while every part of this job came from writeParts(): Parquet v1 with the output types,
   * so a lone part is already what the merge would make of it.
   */
  finalParts?: boolean;
}

/**
 * One chunk whose part files the caller writes itself (file → file scoring inside DuckDB):
 * the sink names the files, then commits them with the checkpoint as write() does.
 */
export interface PartsWrite {
  jobId: string;
  checkpoint: Checkpoint;
  idColumn: string;
  /** Types of the prediction part's columns, as written. */
  types: Record<string, ColumnType>;
  /**
   * When the chunk's ids are numbers written in ascending order: the first and last of them
   * (the chunk's key range), which keep the job's `ascending` record.
   */
  idRange?: { first: number; last: number };
  /**
   * Write the chunk's predictions (rejects) as Parquet v1 to `file` and return the row count;
   * a part of 0 rows is dropped, or need not be written at all.
   */
  writePredictions(file: string): Promise<number>;
  writeRejects(file: string): Promise<number>;
}

const STATE_VERSION = 1;
const PART = /^(part|rejects)-(.+)-(\d{10})\.parquet(\.tmp)?$/;
const SEQUENCE_DIGITS = 10;
/** Column of read_parquet(filename = …) in the merge; odd enough not to meet a real column. */
const PART_FILE = "__mldeploy_part_file";

/**
 * Parts are only read back by the merge (DuckDB), so they use Parquet's v2 encodings, which
 * DuckDB writes about a third faster; the merged file stays v1 for every other reader.
 */
const PART_FORMAT = "FORMAT parquet, PARQUET_VERSION v2";
const META_COLUMNS = ["model_name", "model_version", "run_id", "scored_at"];

/**
 * Writes predictions to a Parquet or CSV file, exactly once without a database.
 *
 * Each write() stores its chunk as part files in `<target>.parts/` (predictions
 * `part-<job>-<sequence>.parquet`, rejects `rejects-<job>-<sequence>.parquet`), each written
 * under a temporary name and renamed, then replaces the job's state file
 * `_job-<job>.json` (checkpoint and sequence) the same way. The state file is the commit: a
 * crash before it leaves parts numbered above the committed sequence, which prepare() deletes,
 * and the rerun writes the same part names again.
 *
 * finalize() merges the parts into the target with one DuckDB COPY, keeping one row per
 * (id, model_version) — the latest scored — so reruns and rescoring upsert, as the SQL sinks
 * do. Rejects go to `<target minus extension>.rejects.<extension>` the same way.
 */
export class FileBatchSink implements BatchSink {
  readonly description: string;
  readonly format: FileFormat;
  readonly target: string;
  readonly partsDir: string;
  readonly rejectsTarget: string;
  private readonly jobs = new Map<string, JobState>();
  private engine?: Promise<Engine>;
  private wrote = false;

  constructor(private readonly options: FileSinkOptions) {
    const format = options.format ?? formatFromPath(options.path);
    if (!format) {
      throw new UserError(
        `${options.path}: cannot tell the format from the extension; use .parquet or .csv, or a parquet:/csv: prefix`,
      );
    }
    this.format = format;
    this.target = path.resolve(options.path);
    this.partsDir = `${this.target}.parts`;
    const ext = path.extname(this.target);
    this.rejectsTarget = `${ext ? this.target.slice(0, -ext.length) : this.target}.rejects${ext}`;
    this.description = `${format}:${options.path}`;
  }

  async prepare(jobId: string): Promise<Checkpoint | undefined> {
    await this.stored(this.partsDir, async () => {
      await mkdir(this.partsDir, { recursive: true });
      await this.removeMergeLeftovers();
    });
    const state = await this.loadState(jobId);
    await this.stored(this.partsDir, () => this.removeUncommitted(state));
    this.jobs.set(jobId, state);
    return state.checkpoint;
  }

  /** Runs `fn`, naming `file` and the cause when the machine refuses it (disk full, read-only). */
  private async stored<T>(file: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw storageError(error, this.description, file);
    }
  }

  async write(chunk: SinkWrite): Promise<void> {
    const state = this.jobs.get(chunk.jobId) ?? (await this.loadPrepared(chunk.jobId));
    const sequence = state.sequence + 1;
    const { predictions, rejects } = chunk;
    checkLengths(chunk);
    const types = { ...state.types };
    const columns = predictionColumns(predictions, types);
    const engine = await this.open();
    if (predictions.ids.length > 0) {
      const file = this.partPath("part", state.jobId, sequence);
      await this.stored(file, () =>
        atomically(file, (tmp) => writePredictionPart(engine, predictions, columns, tmp)),
      );
    }
    if (rejects.ids.length > 0) {
      const file = this.partPath("rejects", state.jobId, sequence);
      await this.stored(file, () =>
        atomically(file, (tmp) => writeRejectPart(engine, chunk, predictions.modelVersion, tmp)),
      );
    }
    const next: JobState = {
      jobId: state.jobId,
      checkpoint: chunk.checkpoint ?? state.checkpoint,
      sequence,
      idColumn: predictions.idColumn,
      types,
      ...idOrder(state, predictions.ids),
      // A chunk of rejects only adds no prediction part the merge would have to retype.
      finalParts: predictions.ids.length === 0 ? state.finalParts : false,
    };
    await this.saveState(next);
    this.jobs.set(chunk.jobId, next);
    this.wrote = true;
  }

  /** Commits one chunk of parts written by the caller (see PartsWrite); atomic like write(). */
  async writeParts(chunk: PartsWrite): Promise<{ predictions: number; rejects: number }> {
    const state = this.jobs.get(chunk.jobId) ?? (await this.loadPrepared(chunk.jobId));
    const sequence = state.sequence + 1;
    const written = async (file: string, write: (tmp: string) => Promise<number>) => {
      const tmp = `${file}.tmp`;
      let rows = 0;
      try {
        rows = await write(tmp);
        if (rows > 0) {
          await syncFile(tmp);
          await rename(tmp, file);
        }
      } catch (error) {
        throw storageError(error, this.description, file);
      } finally {
        await rm(tmp, { force: true });
      }
      return rows;
    };
    const predictions = await written(
      this.partPath("part", state.jobId, sequence),
      chunk.writePredictions,
    );
    const rejects = await written(
      this.partPath("rejects", state.jobId, sequence),
      chunk.writeRejects,
    );
    const types = { ...state.types };
    for (const [name, type] of Object.entries(chunk.types)) {
      types[name] = mergeType(types[name], type) ?? type;
    }
    const range = chunk.idRange;
    const ascending =
      state.ascending === true &&
      range !== undefined &&
      (state.lastId === undefined ||
        (typeof state.lastId === "number" && range.first > state.lastId));
    const next: JobState = {
      jobId: state.jobId,
      checkpoint: chunk.checkpoint,
      sequence,
      idColumn: chunk.idColumn,
      types,
      ascending,
      lastId: range?.last ?? state.lastId,
      finalParts:
        state.finalParts === true &&
        Object.keys(types).length === Object.keys(chunk.types).length &&
        Object.entries(chunk.types).every(([name, type]) => types[name] === type),
    };
    await this.saveState(next);
    this.jobs.set(chunk.jobId, next);
    this.wrote = true;
    return { predictions, rejects };
  }

  /**
   * File → file jobs score inside DuckDB (see score-in-duckdb.ts), loaded on first use: only
   * jobs that write files reach it.
   */
  async scoreInPlace(job: InPlaceJob): Promise<InPlaceResult> {
    const { scoreFilesInPlace } = await import("./score-in-duckdb.js");
    return scoreFilesInPlace(job, this);
  }

  async resetCheckpoint(jobId: string): Promise<void> {
    await this.stored(this.partsDir, () => mkdir(this.partsDir, { recursive: true }));
    const state = this.jobs.get(jobId) ?? (await this.loadState(jobId));
    // The sequence goes on counting: the parts already written stay valid predictions (of
    // possibly another model version) and must not be overwritten by the rescore's parts.
    const next: JobState = { ...state, checkpoint: undefined };
    await this.saveState(next);
    this.jobs.set(jobId, next);
  }

  /**
   * Merges all committed parts of all jobs into the target (and the rejects file), one row per
   * (id, model_version), the latest scored winning. DuckDB streams the parts and sorts out of
   * core, so this does not need the result to fit in memory. Safe to call any number of times.
   */
  async finalize(): Promise<FinalizeResult> {
    this.wrote = false;
    await this.removeMergeLeftovers();
    const files = await readdir(this.partsDir).catch(() => [] as string[]);
    const committed = await this.committedParts(files);
    const result: FinalizeResult = { path: this.target, rows: 0, rejects: 0 };
    const states = await this.allStates(files);
    const idColumn = states.find((s) => s.idColumn)?.idColumn;
    if (committed.part.length > 0 && idColumn) {
      const owners = new Set(committed.part.map((file) => PART.exec(path.basename(file))?.[2]));
      const owner = states.find((s) => owners.has(jobKey(s.jobId)));
      result.rows = await this.merge(committed.part, this.target, {
        key: [idColumn, "model_version"],
        latest: "scored_at",
        types: mergeStateTypes(states),
        // One job's ascending parts: concatenating them is the merge, with no sort or dedupe.
        inOrder: owners.size === 1 && owner?.ascending === true,
        finalParts: owners.size === 1 && owner?.finalParts === true,
      });
    }
    if (committed.rejects.length > 0) {
      result.rejectsPath = this.rejectsTarget;
      result.rejects = await this.merge(committed.rejects, this.rejectsTarget, {
        key: ["id", "model_version"],
        latest: "rejected_at",
        types: {},
      });
    }
    return result;
  }

  async close(): Promise<void> {
    try {
      if (this.wrote && this.options.finalizeOnClose === true) await this.finalize();
    } finally {
      const engine = this.engine;
      this.engine = undefined;
      this.wrote = false;
      await closeDuckDB(engine);
    }
  }

  private open(): Promise<Engine> {
    this.engine ??= openDuckDB(this.options).then((opened) => ({
      ...opened,
      scan: new StagedScan(opened.connection),
    }));
    return this.engine;
  }

  private async loadPrepared(jobId: string): Promise<JobState> {
    await this.prepare(jobId);
    return this.jobs.get(jobId) as JobState;
  }

  private statePath(jobId: string): string {
    return path.join(this.partsDir, `_job-${jobKey(jobId)}.json`);
  }

  /** Where chunk `sequence` of a job goes (public for tests that simulate a crash). */
  partPath(kind: "part" | "rejects", jobId: string, sequence: number): string {
    const number = String(sequence).padStart(SEQUENCE_DIGITS, "0");
    return path.join(this.partsDir, `${kind}-${jobKey(jobId)}-${number}.parquet`);
  }

  private async loadState(jobId: string): Promise<JobState> {
    const text = await readFile(this.statePath(jobId), "utf8").catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    });
    if (text === undefined)
      return { jobId, sequence: 0, types: {}, ascending: true, finalParts: true };
    const state = parseState(text, this.statePath(jobId));
    if (state.jobId !== jobId) {
      throw new UserError(
        `${this.statePath(jobId)} belongs to job "${state.jobId}", not "${jobId}" (job names collide)`,
      );
    }
    return state;
  }

  private async saveState(state: JobState): Promise<void> {
    const text = `${JSON.stringify({ version: STATE_VERSION, ...state }, null, 2)}\n`;
    const file = this.statePath(state.jobId);
    await this.stored(file, () =>
      atomically(file, async (tmp) => {
        const handle = await open(tmp, "w");
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }),
    );
  }

  /** Deletes this job's parts above the committed sequence and its unfinished temp files. */
  private async removeUncommitted(state: JobState): Promise<void> {
    const key = jobKey(state.jobId);
    for (const name of await readdir(this.partsDir)) {
      const match = PART.exec(name);
      const orphan =
        (match && match[2] === key && (match[4] || Number(match[3]) > state.sequence)) ||
        name === `_job-${key}.json.tmp`;
      if (orphan) await rm(path.join(this.partsDir, name), { force: true });
    }
  }

  /** Part files whose job committed them (another job may be writing its next part now). */
  private async committedParts(files: string[]): Promise<Record<"part" | "rejects", string[]>> {
    const states = await this.allStates(files);
    const sequences = new Map(states.map((s) => [jobKey(s.jobId), s.sequence]));
    const out: Record<"part" | "rejects", string[]> = { part: [], rejects: [] };
    for (const name of files) {
      const match = PART.exec(name);
      if (!match || match[4]) continue;
      const committed = sequences.get(match[2]);
      if (committed !== undefined && Number(match[3]) <= committed) {
        out[match[1] as "part" | "rejects"].push(path.join(this.partsDir, name));
      }
    }
    return out;
  }

  private async allStates(files: string[]): Promise<JobState[]> {
    const names = files.filter((name) => /^_job-.+\.json$/.test(name));
    return Promise.all(
      names.map(async (name) => {
        const file = path.join(this.partsDir, name);
        return parseState(await readFile(file, "utf8"), file);
      }),
    );
  }

  /**
   * Makes a lone final part the target without copying it: a hard link (parts are never
   * rewritten once committed, so sharing their data is safe), or a copy where links fail.
   */
  private async publishAsIs(part: string, target: string): Promise<number> {
    const { connection } = await this.open();
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
      throw mergeError(error, this.description, target);
    } finally {
      mergeTemps.delete(tmp);
    }
  }

  /**
   * Deletes the temp files of merges into this sink's targets that a killed process left
   * (`<target>.tmp-<pid>-<hex>`): those whose process is gone, and those with this process's
   * pid that no merge of it is writing (a container's pid 1 before a restart).
   */
  private async removeMergeLeftovers(): Promise<void> {
    for (const target of [this.target, this.rejectsTarget]) {
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

  private async merge(
    parts: string[],
    target: string,
    spec: {
      key: string[];
      latest: string;
      types: Record<string, ColumnType>;
      /** The parts in name order are already unique by key and sorted by it. */
      inOrder?: boolean;
      /** The parts are Parquet v1 in their final types (PartsWrite). */
      finalParts?: boolean;
    },
  ): Promise<number> {
    const { connection } = await this.open();
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
    const lonePart = parts.length === 1 && this.format === "parquet";
    if (lonePart && spec.inOrder === true && spec.finalParts === true && !retyped) {
      return this.publishAsIs(parts[0], target);
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
    const options = this.format === "csv" ? "FORMAT csv, HEADER true" : "FORMAT parquet";
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
      throw mergeError(error, this.description, target);
    } finally {
      mergeTemps.delete(tmp);
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

/** The sink's DuckDB, and the scan through which its COPYs read the chunks held in JS. */
interface Engine {
  instance: DuckDBInstance;
  connection: DuckDBConnection;
  scan: StagedScan;
}

/** A file-name-safe, collision-free name for a job id (ids like "rides→preds[0/4]"). */
function jobKey(jobId: string): string {
  const readable = jobId.replace(/[^A-Za-z0-9_.]+/g, "_").slice(0, 40);
  return `${readable}.${createHash("sha256").update(jobId).digest("hex").slice(0, 10)}`;
}

function parseState(text: string, file: string): JobState {
  try {
    const value = JSON.parse(text) as Partial<JobState>;
    if (typeof value.jobId !== "string" || typeof value.sequence !== "number") {
      throw new Error("missing jobId or sequence");
    }
    return {
      jobId: value.jobId,
      checkpoint: value.checkpoint,
      sequence: value.sequence,
      idColumn: value.idColumn,
      types: value.types ?? {},
      ascending: value.ascending === true,
      lastId: value.lastId,
      finalParts: value.finalParts === true,
    };
  } catch (error) {
    throw new UserError(`${file}: not a valid job state (${firstLine(error)})`, { cause: error });
  }
}

/** Runs `write(tmp)`, then renames tmp over `file`: readers see all of it or nothing. */
async function atomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    await write(tmp);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** fsync, so a rename never publishes a file whose data is still only in the page cache. */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The job's `ascending` and `lastId` after it writes `ids` (see JobState). */
function idOrder(state: JobState, ids: KeyValue[]): Pick<JobState, "ascending" | "lastId"> {
  if (ids.length === 0) return { ascending: state.ascending, lastId: state.lastId };
  let ascending = state.ascending === true;
  let previous = state.lastId;
  for (let i = 0; ascending && i < ids.length; i++) {
    const id = ids[i];
    // Strings are left out: JavaScript and DuckDB do not order every string alike.
    ascending =
      typeof id === "number" &&
      (previous === undefined || (typeof previous === "number" && id > previous));
    previous = id;
  }
  return { ascending, lastId: ids[ids.length - 1] };
}

function checkLengths(chunk: SinkWrite): void {
  const { predictions: p, rejects: r } = chunk;
  const bad =
    p.predictions.length !== p.ids.length ||
    Object.values(p.extra).some((values) => values.length !== p.ids.length) ||
    r.reasons.length !== r.ids.length ||
    r.rows.length !== r.ids.length;
  if (bad) throw new Error(`${chunk.jobId}: chunk columns differ in length`);
}

/**
 * Refuses prediction columns (id, extra columns, prediction) whose names meet each other or the
 * metadata columns; names compare as DuckDB does, ignoring case.
 */
export function checkPredictionNames(names: string[]): void {
  const taken = new Set<string>();
  for (const name of [...names, ...META_COLUMNS]) {
    if (taken.has(name.toLowerCase())) {
      throw new UserError(
        `column "${name}" appears twice in the predictions (rename an extra column)`,
      );
    }
    taken.add(name.toLowerCase());
  }
}

/** Values on their way to a part: a source column, or the predictions (numbers or text labels). */
type OutValues = ColumnData | PredictionValues;

/** The type a column's values call for; undefined when all are null. */
function inferType(values: OutValues): ColumnType | undefined {
  if (values instanceof Float64Array) return "DOUBLE";
  if (values instanceof NumericColumn) return inferNumericType(values);
  let type: ColumnType | undefined;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    let next: ColumnType;
    if (typeof value === "number")
      next = type !== "DOUBLE" && Number.isSafeInteger(value) ? "BIGINT" : "DOUBLE";
    else if (typeof value === "boolean") next = "BOOLEAN";
    else if (value instanceof Date) next = "TIMESTAMP";
    else next = "VARCHAR";
    if (next === type) continue;
    type = mergeType(type, next);
    if (type === "VARCHAR") break;
  }
  return type;
}

function inferNumericType(column: NumericColumn): ColumnType | undefined {
  let type: ColumnType | undefined;
  for (const value of column.values) {
    if (Number.isNaN(value)) continue;
    if (column.kind === "timestamp") return "TIMESTAMP";
    if (!Number.isSafeInteger(value)) return "DOUBLE";
    type = "BIGINT";
  }
  return type;
}

/** Integers widen to doubles; any other mix falls back to text, which holds every value. */
function mergeType(a: ColumnType | undefined, b: ColumnType | undefined): ColumnType | undefined {
  if (!a || a === b) return b ?? a;
  if (!b) return a;
  const numbers = new Set<ColumnType>(["BIGINT", "DOUBLE"]);
  if (numbers.has(a) && numbers.has(b)) return "DOUBLE";
  return "VARCHAR";
}

function mergeStateTypes(states: JobState[]): Record<string, ColumnType> {
  const out: Record<string, ColumnType> = {};
  for (const state of states) {
    for (const [name, type] of Object.entries(state.types)) {
      out[name] = mergeType(out[name], type) ?? type;
    }
  }
  return out;
}

interface OutColumn {
  name: string;
  values: OutValues;
  type: ColumnType;
}

/**
 * The prediction file's data columns, typed by the values seen so far; updates `types` (the
 * job's record). A column with only nulls so far is written as VARCHAR and retyped at merge.
 */
function predictionColumns(chunk: PredictionChunk, types: Record<string, ColumnType>): OutColumn[] {
  checkPredictionNames([chunk.idColumn, ...Object.keys(chunk.extra), chunk.predictionColumn]);
  const columns: Array<{ name: string; values: OutValues }> = [
    { name: chunk.idColumn, values: chunk.ids },
    ...Object.entries(chunk.extra).map(([name, values]) => ({ name, values })),
    { name: chunk.predictionColumn, values: chunk.predictions },
  ];
  return columns.map(({ name, values }) => {
    const type =
      name === chunk.predictionColumn
        ? predictionType(chunk, types[name])
        : mergeType(types[name], inferType(values));
    if (type) types[name] = type;
    return { name, values, type: type ?? "VARCHAR" };
  });
}

/**
 * DOUBLE for numbers, VARCHAR for a classifier's text labels. A chunk without predictions
 * (rejects only) keeps the type recorded so far: its empty column says nothing of the model.
 */
function predictionType(chunk: PredictionChunk, recorded: ColumnType | undefined): ColumnType {
  if (chunk.ids.length === 0 && recorded !== undefined) return recorded;
  return chunk.predictions instanceof Float64Array ? "DOUBLE" : "VARCHAR";
}

/**
 * Stage types: numbers, timestamps (epoch ms) and integers all go in as DOUBLE — filling a
 * Float64 vector is the cheapest way into DuckDB from JS, and exact for safe integers — and
 * are cast to the output type in the COPY's SELECT.
 */
function stageType(type: ColumnType): DuckDBType {
  return type === "VARCHAR" ? VARCHAR : type === "BOOLEAN" ? BOOLEAN : DOUBLE;
}

function toStage(type: ColumnType, value: unknown): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "BIGINT":
    case "DOUBLE":
    case "TIMESTAMP":
      return value instanceof Date ? value.getTime() : (value as number);
    case "BOOLEAN":
      return value as boolean;
    case "VARCHAR":
      return typeof value === "string"
        ? value
        : value instanceof Date
          ? value.toISOString()
          : typeof value === "object"
            ? JSON.stringify(value)
            : String(value);
  }
}

function fromStage(type: ColumnType, ref: string): string {
  if (type === "BIGINT") return `CAST(${ref} AS BIGINT)`;
  if (type === "TIMESTAMP") return `epoch_ms(CAST(${ref} AS BIGINT))`;
  return ref;
}

/** The stage columns of a part: each output column in its stage type. */
function staged(columns: OutColumn[]): StagedColumn[] {
  return columns.map((column) => ({
    type: stageType(column.type),
    fill: (vector, start, count) => fillVector(vector, column, start, count),
  }));
}

/** Copies rows [start, start + count) of a column into a stage vector of `count` rows. */
function fillVector(vector: DuckDBVector, column: OutColumn, start: number, count: number): void {
  const { values, type } = column;
  // Numbers go straight into the vector's Float64Array; setItem() is kept for nulls (and for
  // a vector whose layout is not the expected one), as it maintains the validity mask.
  const raw = stageType(type) === DOUBLE ? doubleData(vector) : undefined;
  if (raw && values instanceof Float64Array) {
    raw.items.set(values.subarray(start, start + count));
  } else if (raw && values instanceof NumericColumn) {
    const numbers = values.values.subarray(start, start + count);
    raw.items.set(numbers);
    for (let r = 0; r < count; r++) if (Number.isNaN(numbers[r])) vector.setItem(r, null);
  } else if (raw && Array.isArray(values)) {
    const items = raw.items;
    for (let r = 0; r < count; r++) {
      const value: unknown = values[start + r];
      if (typeof value === "number") items[r] = value;
      else if (value instanceof Date) items[r] = value.getTime();
      else vector.setItem(r, toStage(type, value));
    }
  } else {
    for (let r = 0; r < count; r++) vector.setItem(r, toStage(type, outValue(values, start + r)));
  }
}

function outValue(values: OutValues, row: number): unknown {
  return values instanceof Float64Array ? values[row] : valueAt(values, row);
}

async function writePredictionPart(
  { connection, scan }: Engine,
  chunk: PredictionChunk,
  columns: OutColumn[],
  file: string,
): Promise<void> {
  const select = columns.map((c, i) => `${fromStage(c.type, `c${i}`)} AS ${sqlIdentifier(c.name)}`);
  await scan.with(staged(columns), chunk.ids.length, (table) =>
    connection.run(
      `COPY (SELECT ${select.join(", ")},
              CAST($1 AS VARCHAR) AS model_name, CAST($2 AS VARCHAR) AS model_version,
              CAST($3 AS VARCHAR) AS run_id, CAST($4 AS TIMESTAMPTZ) AS scored_at
            FROM ${table}) TO ${sqlString(file)} (${PART_FORMAT})`,
      [chunk.modelName, chunk.modelVersion, chunk.runId ?? null, chunk.scoredAt],
    ),
  );
  await syncFile(file);
}

async function writeRejectPart(
  { connection, scan }: Engine,
  chunk: SinkWrite,
  modelVersion: string,
  file: string,
): Promise<void> {
  const { ids, reasons, rows } = chunk.rejects;
  const columns: OutColumn[] = [
    { name: "id", values: ids.map((id: KeyValue) => String(id)), type: "VARCHAR" },
    { name: "reason", values: reasons, type: "VARCHAR" },
    { name: "row", values: rows, type: "VARCHAR" },
  ];
  await scan.with(staged(columns), ids.length, (table) =>
    connection.run(
      `COPY (SELECT c0 AS id, CAST($1 AS VARCHAR) AS model_version, c1 AS reason, c2 AS "row",
              CAST($2 AS TIMESTAMPTZ) AS rejected_at
            FROM ${table}) TO ${sqlString(file)} (${PART_FORMAT})`,
      [modelVersion, chunk.predictions.scoredAt],
    ),
  );
  await syncFile(file);
}
