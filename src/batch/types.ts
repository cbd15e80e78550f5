/**
 * The batch scoring contract: a source streams rows in a stable order in chunks, a sink
 * stores each chunk's predictions, rejected rows and the job's checkpoint together, so that a
 * crash between chunks loses nothing and a rerun duplicates nothing.
 *
 * Order and resumption use one keyset: rows are read ordered by (since column, id column)
 * when a watermark column is given, else by the id column alone. The checkpoint is the key
 * of the last row of the last committed chunk; the next read starts strictly after it. That
 * one position serves both as the incremental watermark between scheduled runs and as the
 * resume point after `kill -9` mid-run.
 */

import type { PredictionValues, Predictor } from "../model/types.js";
import type { ColumnData } from "./columns.js";

/** A scalar read from a source: what SQL drivers and DuckDB give for ids and watermark columns. */
export type KeyValue = string | number;

/** Position after which the next read starts; undefined for a fresh job. */
export interface Checkpoint {
  /** Value of the since (watermark) column of the last committed row, when the job has one. */
  since?: KeyValue;
  /** Id of the last committed row. */
  id: KeyValue;
}

/**
 * Only rows whose id hashes to `index` (0-based) of `count` partitions. Each source kind
 * hashes in its own engine (so the filter runs where the data is); N workers reading the same
 * source with partitions 0..N-1 of N cover every row exactly once.
 */
export interface Partition {
  index: number;
  count: number;
}

export interface ReadOptions {
  /** Row identity, unique in the source; validated as an identifier before use. */
  idColumn: string;
  /** Watermark column (a timestamp or increasing number); rows are read in (since, id) order. */
  sinceColumn?: string;
  /** Columns to read besides id and since (the model's inputs and any passthrough columns). */
  columns: string[];
  /** Start strictly after this key. */
  after?: Checkpoint;
  /** Rows per chunk. */
  chunkSize: number;
  partition?: Partition;
}

/** One chunk of source rows, column-oriented, in read order. */
export interface SourceChunk {
  rows: number;
  ids: KeyValue[];
  /** Present when ReadOptions.sinceColumn was given. */
  since?: Array<KeyValue | null>;
  /**
   * Values as the driver returned them (numbers, strings, booleans, null, Date for timestamps),
   * or, from columnar sources, numbers and timestamps as a NumericColumn.
   */
  columns: Record<string, ColumnData>;
  /** Columns whose declared SQL type is an integer type (SQL sources). */
  integers?: ReadonlySet<string>;
}

/** Rows outside the keyset: their id, or their since value, is NULL. */
export interface NullKeyChunk extends Omit<SourceChunk, "ids"> {
  /** null where the id is NULL. */
  ids: Array<KeyValue | null>;
}

export interface BatchSource {
  /** For logs and errors; never contains a password. */
  readonly description: string;
  /** Streams the rows after `options.after`, `chunkSize` at a time, in keyset order. */
  read(options: ReadOptions): AsyncIterable<SourceChunk>;
  /**
   * Streams the rows that read() leaves out because their id or since value is NULL (they have
   * no place in the keyset order), whatever `options.after`: each run reports them as rejects.
   * Within a partition: NULL-id rows belong to partition 0 (their id has no hash).
   */
  readNullKeys?(options: ReadOptions): AsyncIterable<NullKeyChunk>;
  /** Rows a read with these options would return (for progress and ETA); may be approximate. */
  count(options: Omit<ReadOptions, "chunkSize">): Promise<number>;
  close(): Promise<void>;
}

/**
 * A chunk of predictions. The sink's prediction table has the id column (named as in the
 * source), the extra columns, `predictionColumn`, then model_name, model_version, run_id,
 * scored_at; primary key (id, model_version). Tables are created on the first write, with
 * column types taken from that chunk's values (integer ids → BIGINT, other numbers → DOUBLE,
 * strings → TEXT, Date → a timestamp type, booleans → BOOLEAN; all-null → TEXT).
 */
export interface PredictionChunk {
  /** Name of the id column in the sink (the source's id column name). */
  idColumn: string;
  /** Name of the prediction column (e.g. predicted_duration). */
  predictionColumn: string;
  ids: KeyValue[];
  /** The model's predictions: numbers (DOUBLE), or a classifier's text labels (TEXT). */
  predictions: PredictionValues;
  /** Passthrough columns copied from the source (e.g. pickup datetime, PULocationID, actual duration). */
  extra: Record<string, ColumnData>;
  /**
   * Extra columns the source declares integer: SQL sinks make them integer columns. Other
   * numbers become floating point, as a later chunk could hold 2.5 where this one held 2.
   */
  integers?: ReadonlySet<string>;
  modelName: string;
  modelVersion: string;
  /** The registry run id of the model, when known. */
  runId?: string;
  /** One scoring time for the whole chunk, ISO 8601. */
  scoredAt: string;
}

/**
 * Rows that were not scored, with the reason (e.g. `field "trip_distance" must be >= 0, got -1`).
 * Reject table: id (TEXT), model_version, reason, row (JSON text), rejected_at; key (id, model_version).
 */
export interface RejectChunk {
  ids: KeyValue[];
  reasons: string[];
  /** The row as read, as JSON text, so nothing is lost. */
  rows: string[];
}

export interface SinkWrite {
  /** Identifies the job's checkpoint (e.g. "rides→ride_predictions[0/4]"). */
  jobId: string;
  predictions: PredictionChunk;
  rejects: RejectChunk;
  /**
   * Key of the last row of this chunk (scored or rejected): the new checkpoint. Undefined keeps
   * the job's checkpoint as it is (rejects of rows outside the keyset, see readNullKeys).
   */
  checkpoint?: Checkpoint;
}

/** A chunk the sink has committed, as the job counts and logs it. */
export interface ChunkOutcome {
  rows: number;
  scored: number;
  rejected: number;
  checkpoint: Checkpoint;
  /** The first rejected row, for the log. */
  firstReject?: { id: KeyValue; reason: string };
}

/** A whole run handed to a sink that can score where the data is (BatchSink.scoreInPlace). */
export interface InPlaceJob {
  jobId: string;
  source: BatchSource;
  predictor: Predictor;
  /** Answer this for every row instead of running the model (a benchmark's ceiling). */
  constant?: number;
  /** The read, starting after the job's checkpoint. */
  read: Omit<ReadOptions, "chunkSize">;
  chunkSize: number;
  predictionColumn: string;
  keepColumns: string[];
  actualColumn?: string;
  /** Provenance written with each prediction. */
  provenance: { name: string; version: string; runId?: string };
  /** Called once per chunk the sink has committed. */
  onChunk(chunk: ChunkOutcome): void;
  shouldStop?: () => boolean;
}

/**
 * What scoreInPlace did: "unsupported" (nothing done: the job takes the chunk pipeline),
 * "done", or "stopped" (shouldStop() ended the run after a committed chunk).
 */
export type InPlaceResult = "unsupported" | "done" | "stopped";

export interface BatchSink {
  readonly description: string;
  /**
   * Optional: scores the whole run from `job.source` where the data is, instead of passing
   * each chunk through JavaScript (file → file jobs score inside DuckDB). Returns
   * "unsupported", having done nothing, for a source or columns it cannot take. What it needs
   * is loaded on first use, so a job whose sink lacks it never loads it.
   */
  scoreInPlace?(job: InPlaceJob): Promise<InPlaceResult>;
  /** Creates the checkpoint table/file if missing; returns the job's checkpoint. */
  prepare(jobId: string): Promise<Checkpoint | undefined>;
  /**
   * Stores one chunk atomically: predictions upserted on (id, model_version), rejects upserted
   * on (id, model_version), checkpoint replaced. After a crash either all of it is there or none.
   */
  write(chunk: SinkWrite): Promise<void>;
  /** Forgets the job's checkpoint (a full rescore with `--from-start`). */
  resetCheckpoint(jobId: string): Promise<void>;
  close(): Promise<void>;
}
