import { mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../../config/errors.js";
import { storageError } from "../storage-fault.js";
import { closeDuckDB, openDuckDB, type DuckDBSettings } from "../../duckdb/instance.js";
import type { BatchSink, Checkpoint, InPlaceJob, InPlaceResult, SinkWrite } from "../types.js";
import {
  atomically,
  CommitRecord,
  idOrder,
  jobKey,
  PART,
  stored,
  syncFile,
  type JobState,
} from "./commit-record.js";
import { formatFromPath, type FileFormat } from "./format.js";
import { mergeParts, removeMergeLeftovers, type MergeSpec } from "./merge.js";
import { mergeStateTypes, mergeType, predictionColumns, type ColumnType } from "./output-types.js";
import { writePredictionPart, writeRejectPart, type Engine } from "./part-writer.js";
import { StagedScan } from "./staged-scan.js";

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
 *
 * The jobs this takes are in their own rooms: the commit record (commit-record.ts), the output
 * column types (output-types.ts), staging and writing one part (part-writer.ts) and the final
 * merge (merge.ts); this class holds the sink contract that ties them together.
 */
export class FileBatchSink implements BatchSink {
  readonly description: string;
  readonly format: FileFormat;
  readonly target: string;
  readonly partsDir: string;
  readonly rejectsTarget: string;
  private readonly record: CommitRecord;
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
    this.record = new CommitRecord(this.partsDir, this.description);
  }

  async prepare(jobId: string): Promise<Checkpoint | undefined> {
    await this.stored(this.partsDir, async () => {
      await mkdir(this.partsDir, { recursive: true });
      await removeMergeLeftovers([this.target, this.rejectsTarget]);
    });
    const state = await this.record.loadState(jobId);
    await this.stored(this.partsDir, () => this.record.removeUncommitted(state));
    this.jobs.set(jobId, state);
    return state.checkpoint;
  }

  /** Runs `fn`, naming `file` and the cause when the machine refuses it (disk full, read-only). */
  private stored<T>(file: string, fn: () => Promise<T>): Promise<T> {
    return stored(this.description, file, fn);
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
      const file = this.record.partPath("part", state.jobId, sequence);
      await this.stored(file, () =>
        atomically(file, (tmp) => writePredictionPart(engine, predictions, columns, tmp)),
      );
    }
    if (rejects.ids.length > 0) {
      const file = this.record.partPath("rejects", state.jobId, sequence);
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
    await this.record.saveState(next);
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
      this.record.partPath("part", state.jobId, sequence),
      chunk.writePredictions,
    );
    const rejects = await written(
      this.record.partPath("rejects", state.jobId, sequence),
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
    await this.record.saveState(next);
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
    const state = this.jobs.get(jobId) ?? (await this.record.loadState(jobId));
    // The sequence goes on counting: the parts already written stay valid predictions (of
    // possibly another model version) and must not be overwritten by the rescore's parts.
    const next: JobState = { ...state, checkpoint: undefined };
    await this.record.saveState(next);
    this.jobs.set(jobId, next);
  }

  /**
   * Merges all committed parts of all jobs into the target (and the rejects file), one row per
   * (id, model_version), the latest scored winning. DuckDB streams the parts and sorts out of
   * core, so this does not need the result to fit in memory. Safe to call any number of times.
   */
  async finalize(): Promise<FinalizeResult> {
    this.wrote = false;
    await removeMergeLeftovers([this.target, this.rejectsTarget]);
    const files = await readdir(this.partsDir).catch(() => [] as string[]);
    const committed = await this.record.committedParts(files);
    const result: FinalizeResult = { path: this.target, rows: 0, rejects: 0 };
    const states = await this.record.allStates(files);
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

  /** Where chunk `sequence` of a job goes (public for tests that simulate a crash). */
  partPath(kind: "part" | "rejects", jobId: string, sequence: number): string {
    return this.record.partPath(kind, jobId, sequence);
  }

  private async merge(parts: string[], target: string, spec: MergeSpec): Promise<number> {
    const { connection } = await this.open();
    return mergeParts(connection, this, parts, target, spec);
  }

  private async loadPrepared(jobId: string): Promise<JobState> {
    await this.prepare(jobId);
    return this.jobs.get(jobId) as JobState;
  }
  /** Deletes this job's parts above the committed sequence and its unfinished temp files. */
  /** Part files whose job committed them (another job may be writing its next part now). */
  /**
   * Makes a lone final part the target without copying it: a hard link (parts are never
   * rewritten once committed, so sharing their data is safe), or a copy where links fail.
   */
  /**
   * Deletes the temp files of merges into this sink's targets that a killed process left
   * (`<target>.tmp-<pid>-<hex>`): those whose process is gone, and those with this process's
   * pid that no merge of it is writing (a container's pid 1 before a restart).
   */
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
