import { DOUBLE, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { StorageError, UserError } from "../../config/errors.js";
import { runPlanOf } from "../../model/predictor.js";
import type { ColumnSpec } from "../../model/types.js";
import { firstLine, sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import { BIG_INTEGERS, TIMES, doubleData, isInt64Type } from "../../duckdb/vectors.js";
import { DECIMAL_SQL } from "../decimal.js";
import type { Checkpoint, ChunkOutcome, InPlaceJob, InPlaceResult, KeyValue } from "../types.js";
import {
  PREDICT_FUNCTION,
  REJECT_REASON_FUNCTION,
  modelArgument,
  registerModelFunctions,
  type FunctionTally,
} from "./model-functions.js";
import { RemotePredictor, type RemoteModel } from "./remote-predictor.js";
import { checkPredictionNames, type ColumnType } from "./output-types.js";
import type { FileBatchSink } from "./sink.js";
import { StagedScan, type StagedColumn } from "./staged-scan.js";
import {
  keyExpression,
  keyValue,
  FileBatchSource,
  type ReadShape,
  type ScanPlan,
} from "./source.js";

/**
 * File → file scoring inside DuckDB: per chunk, a keyset read into a temporary table, then one
 * COPY of the predictions part and one of the rejects part, the model called from DuckDB as a
 * scalar function served by worker threads. One job over ~430 lines: the chunk loop, its two
 * COPY statements and the commit of both parts change together.
 */

export interface InDuckDBJob {
  jobId: string;
  source: FileBatchSource;
  sink: FileBatchSink;
  /** The model's request columns (validation) and where the worker loads it from. */
  schema: ColumnSpec[];
  model: RemoteModel;
  /** The read, starting after the job's checkpoint. */
  read: ReadShape;
  chunkSize: number;
  predictionColumn: string;
  /** The model's predictions are text (a classifier's labels): a VARCHAR column, no diff. */
  textPredictions?: boolean;
  keepColumns: string[];
  actualColumn?: string;
  provenance: { name: string; version: string; runId?: string };
  onChunk(chunk: ChunkOutcome): void;
  shouldStop?: () => boolean;
}

/**
 * FileBatchSink.scoreInPlace: a file → file job scored inside DuckDB, with the model run
 * again in worker threads from the predictor's run plan. Other sources: "unsupported".
 */
export async function scoreFilesInPlace(
  job: InPlaceJob,
  sink: FileBatchSink,
): Promise<InPlaceResult> {
  if (!(job.source instanceof FileBatchSource)) return "unsupported";
  const info = job.predictor.info;
  return scoreInDuckDB({
    jobId: job.jobId,
    source: job.source,
    sink,
    schema: info.inputs,
    model: {
      bundle: info.path,
      plan: runPlanOf(job.predictor),
      name: info.name,
      version: info.version,
      constant: job.constant,
    },
    read: job.read,
    chunkSize: job.chunkSize,
    predictionColumn: job.predictionColumn,
    textPredictions: job.constant === undefined && info.outputType === "string",
    keepColumns: job.keepColumns,
    actualColumn: job.actualColumn,
    provenance: job.provenance,
    shouldStop: job.shouldStop,
    onChunk: (chunk) => job.onChunk(chunk),
  });
}

/**
 * Model worker threads: each vector's rows are shared between them (see
 * registerModelFunctions), so the model's time DuckDB waits on shrinks with their number.
 * At most 4 (slices of 512 rows): onnxruntime already costs ~10% more per row in 512-row calls
 * than in 1,024-row ones. Each worker holds its own copy of the model, so a model larger than
 * LARGE_MODEL_BYTES gets one worker: memory matters more there than the model's share of time.
 */
export async function modelThreads(model: RemoteModel): Promise<number> {
  const cores = Math.max(1, Math.min(4, availableParallelism()));
  if (cores === 1 || model.constant !== undefined) return cores;
  const size = model.plan
    ? (await stat(model.plan.onnxPath).catch(() => undefined))?.size
    : undefined;
  return size !== undefined && size > LARGE_MODEL_BYTES ? 1 : cores;
}

const LARGE_MODEL_BYTES = 64 * 1024 * 1024;

/** Name of the chunk's table in the source's DuckDB (a temp table: per connection). */
const CHUNK_TABLE = "mldeploy_chunk";
const PREDICTION = "mldeploy_prediction";

/**
 * File → file scoring where the data is. Each chunk is one DuckDB statement that reads the
 * next `chunkSize` rows in keyset order into a temp table, then a COPY that predicts them
 * through a scalar function (the model runs in worker threads, see remote-predictor.ts) and
 * writes the predictions part, and a COPY of the rows the function rejected into the rejects
 * part. The sink commits the parts with the checkpoint exactly as for a chunk scored in
 * JavaScript. No row crosses into JavaScript except as the model's input vectors, which is
 * what makes this path several times faster.
 *
 * Returns "unsupported", having done nothing, when the columns need the chunk pipeline (a
 * model input that is neither a number, text nor a boolean; ids beyond 64 bits) or the worker
 * is not built; "stopped" when shouldStop() ended the run after a committed chunk.
 */
export async function scoreInDuckDB(job: InDuckDBJob): Promise<"unsupported" | "done" | "stopped"> {
  let plan = await job.source.scanPlan(job.read);
  const byName = new Map(plan.refs.map((ref, i) => [ref.name, i]));
  const inputIndex = job.schema.map((spec) => byName.get(spec.name));
  if (inputIndex.some((i) => i === undefined)) return "unsupported";
  const args = inputIndex.map((i) => modelArgument(plan.refs[i!]));
  if (args.some((arg) => arg === undefined)) return "unsupported";
  const outputs = outputColumns(job, plan);
  if (outputs === undefined) return "unsupported";

  // The model loads in its workers while DuckDB finds and reads the first chunk.
  const starting = modelThreads(job.model)
    .then((threads) => RemotePredictor.start(job.model, threads))
    .catch((error: unknown) => {
      throw new UserError(`cannot load the model in a worker thread: ${firstLine(error)}`, {
        cause: error,
      });
    });
  starting.catch(() => {});
  let model: RemotePredictor | undefined;
  let connection: DuckDBConnection | undefined;
  try {
    connection = await job.source.connect();
    let after = job.read.after;
    let bound = await chunkBound(connection, plan, job.chunkSize);
    // Nothing new: finally lets the model finish loading and closes it.
    if (bound === undefined) return "done";
    const inputs = inputIndex.map((i, c) => args[c]!.sql(`c${i}`));
    let tally: FunctionTally | undefined;
    let stage: StagedScan | undefined;
    while (bound !== undefined) {
      await createChunk(connection, plan, bound);
      if (tally === undefined) {
        model = await starting;
        if (model === undefined) return "unsupported";
        tally = registerModelFunctions(
          connection,
          job.schema,
          args.map((arg) => arg!.type),
          model,
          job.textPredictions === true,
        );
        stage = new StagedScan(connection);
      }
      const rejected: number[] = (tally.rejected = []);
      const written = await job.sink.writeParts({
        jobId: job.jobId,
        checkpoint: bound.checkpoint,
        idColumn: job.read.idColumn,
        types: Object.fromEntries(outputs.map((c) => [c.name, c.type])),
        idRange: bound.idRange,
        writePredictions: (file) => copyPredictions(connection!, outputs, inputs, job, file),
        writeRejects: (file) => copyRejects(connection!, stage!, plan, inputs, rejected, job, file),
      });
      const firstReject =
        written.rejects > 0 ? await firstRejected(connection, inputs, rejected) : undefined;
      job.onChunk({
        rows: bound.rows,
        scored: written.predictions,
        rejected: written.rejects,
        checkpoint: bound.checkpoint,
        firstReject,
      });
      after = bound.checkpoint;
      if (job.shouldStop?.()) return "stopped";
      plan = await job.source.scanPlan({ ...job.read, after });
      bound = await chunkBound(connection, plan, job.chunkSize);
    }
  } catch (error) {
    if (error instanceof UserError || error instanceof StorageError) throw error;
    throw new UserError(`${job.source.description}: ${firstLine(error)}`, { cause: error });
  } finally {
    if (connection) {
      await connection.run(`DROP TABLE IF EXISTS ${CHUNK_TABLE}`).catch(() => undefined);
      connection.closeSync();
    }
    await (model ?? (await starting.catch(() => undefined)))?.close();
  }
  return "done";
}

interface Bound {
  rows: number;
  /** Key of the chunk's last row. */
  checkpoint: Checkpoint;
  /** Set when ids are numbers and the only key: the chunk's first and last id. */
  idRange?: { first: number; last: number };
  /** Condition for "key <= the last row's key", with its parameters appended to the plan's. */
  where: string;
  params: DuckDBValue[];
}

/** The key of the last of the next `size` rows (scanning only the key columns), if any. */
async function chunkBound(
  connection: DuckDBConnection,
  plan: ScanPlan,
  size: number,
): Promise<Bound | undefined> {
  const since = plan.sinceRef;
  const numericIds =
    since === undefined &&
    (isInt64Type(plan.idRef.type) || /^(FLOAT|DOUBLE)$/.test(plan.idRef.type));
  const keys = `SELECT ${plan.idRef.sql} AS k_id${since ? `, ${since.sql} AS k_since` : ""}
                FROM ${plan.from} WHERE ${plan.where} ORDER BY ${plan.orderBy} LIMIT ${size}`;
  const result = await connection.runAndReadAll(
    `WITH keys AS (${keys})
     SELECT ${keyExpression("k_id", plan.idRef.type)},
            ${since ? keyExpression("k_since", since.type) : "NULL"},
            count(*) OVER (),
            ${numericIds ? "CAST(min(k_id) OVER () AS DOUBLE)" : "NULL"},
            ${numericIds ? "CAST(k_id AS DOUBLE)" : "NULL"}
     FROM keys ORDER BY ${since ? "k_since DESC, " : ""}k_id DESC LIMIT 1`,
    plan.params,
  );
  const row = result.getRows()[0];
  if (row === undefined) return undefined;
  const id: KeyValue = keyValue(row[0]);
  const checkpoint: Checkpoint = since ? { since: keyValue(row[1]), id } : { id };
  const params = [...plan.params, id];
  const idValue = `CAST($${params.length} AS ${plan.idRef.type})`;
  let where: string;
  if (since) {
    params.push(checkpoint.since!);
    // Spelled out: next to the plan's row comparison, DuckDB would fuse a second one into a
    // BETWEEN on STRUCTs, which it then refuses.
    const sinceValue = `CAST($${params.length} AS ${since.type})`;
    where = `(${since.sql} < ${sinceValue} OR (${since.sql} = ${sinceValue} AND ${plan.idRef.sql} <= ${idValue}))`;
  } else {
    where = `${plan.idRef.sql} <= ${idValue}`;
  }
  return {
    rows: Number(row[2]),
    checkpoint,
    idRange: numericIds ? { first: Number(row[3]), last: Number(row[4]) } : undefined,
    where,
    params,
  };
}

/**
 * Reads the chunk into CHUNK_TABLE in key order: k_id, k_since, c0…. The model runs later, in
 * the COPY of the predictions, where its time overlaps DuckDB's encoding of the Parquet part
 * (predicting here, the model's time added to the sort's instead).
 */
async function createChunk(
  connection: DuckDBConnection,
  plan: ScanPlan,
  bound: Bound,
): Promise<void> {
  const columns = plan.refs.map((ref, i) => `${ref.sql} AS c${i}`);
  await connection.run(
    `CREATE OR REPLACE TEMP TABLE ${CHUNK_TABLE} AS
     SELECT ${plan.idRef.sql} AS k_id
            ${plan.sinceRef ? `, ${plan.sinceRef.sql} AS k_since` : ""}
            ${columns.map((column) => `, ${column}`).join("")}
     FROM ${plan.from} WHERE ${plan.where} AND ${bound.where}
     ORDER BY ${plan.orderBy}`,
    bound.params,
  );
}

interface OutputColumn {
  name: string;
  /** The value over CHUNK_TABLE's columns. */
  sql: string;
  type: ColumnType;
}

/**
 * The prediction part's columns, named and typed as the chunk pipeline writes them: the id,
 * the kept columns, the actual value and diff, then the prediction. Undefined when a column's
 * type needs that pipeline (integers beyond 64 bits, kept exact as text there).
 */
function outputColumns(job: InDuckDBJob, plan: ScanPlan): OutputColumn[] | undefined {
  const refIndex = new Map(plan.refs.map((ref, i) => [ref.name, i]));
  const columns = new Map<string, OutputColumn | undefined>();
  columns.set(job.read.idColumn, outputValue(job.read.idColumn, "k_id", plan.idRef.type));
  const copied = (name: string) => {
    const index = refIndex.get(name);
    if (index === undefined || columns.has(name)) return;
    columns.set(name, outputValue(name, `c${index}`, plan.refs[index].type));
  };
  job.keepColumns.forEach(copied);
  if (job.actualColumn !== undefined) {
    copied(job.actualColumn);
    const actual = refIndex.get(job.actualColumn);
    if (actual !== undefined) {
      // Text counts as a number only when written in decimal, as for the model's inputs.
      const number =
        plan.refs[actual].type === "VARCHAR"
          ? `CASE WHEN regexp_full_match(c${actual}, ${DECIMAL_SQL}) THEN TRY_CAST(c${actual} AS DOUBLE) END`
          : `TRY_CAST(c${actual} AS DOUBLE)`;
      columns.set("diff", {
        name: "diff",
        // Text labels have no difference: NULL, as the chunk pipeline writes it.
        sql: job.textPredictions
          ? "CAST(NULL AS DOUBLE)"
          : `CASE WHEN isfinite(${number}) THEN ${number} - ${PREDICTION} END`,
        type: "DOUBLE",
      });
    }
  }
  columns.set(job.predictionColumn, {
    name: job.predictionColumn,
    sql: PREDICTION,
    type: job.textPredictions ? "VARCHAR" : "DOUBLE",
  });
  checkPredictionNames([...columns.keys()]);
  const list = [...columns.values()];
  return list.every((column) => column !== undefined) ? list : undefined;
}

/** A source column as the chunk pipeline would write it (see the sink's ColumnType). */
function outputValue(name: string, column: string, type: string): OutputColumn | undefined {
  const ref = sqlIdentifier(column);
  if (isInt64Type(type)) return { name, sql: `CAST(${ref} AS BIGINT)`, type: "BIGINT" };
  if (BIG_INTEGERS.test(type)) return undefined;
  if (type === "DOUBLE" || type === "FLOAT" || type.startsWith("DECIMAL"))
    return { name, sql: `CAST(${ref} AS DOUBLE)`, type: "DOUBLE" };
  // The chunk pipeline writes instants as UTC wall time; so does this.
  if (type === "TIMESTAMP WITH TIME ZONE")
    return { name, sql: `timezone('UTC', ${ref})`, type: "TIMESTAMP" };
  if (TIMES.test(type)) return { name, sql: `CAST(${ref} AS TIMESTAMP)`, type: "TIMESTAMP" };
  if (type === "BOOLEAN") return { name, sql: ref, type: "BOOLEAN" };
  if (type === "VARCHAR") return { name, sql: ref, type: "VARCHAR" };
  return { name, sql: `CAST(${ref} AS VARCHAR)`, type: "VARCHAR" };
}

/** Predicts the chunk and writes the predicted rows; the rejected ones land in the tally. */
async function copyPredictions(
  connection: DuckDBConnection,
  outputs: OutputColumn[],
  inputs: string[],
  job: InDuckDBJob,
  file: string,
): Promise<number> {
  const select = outputs.map((c) => `${c.sql} AS ${sqlIdentifier(c.name)}`);
  const result = await connection.run(
    `COPY (SELECT ${select.join(", ")},
                  CAST($1 AS VARCHAR) AS model_name, CAST($2 AS VARCHAR) AS model_version,
                  CAST($3 AS VARCHAR) AS run_id, CAST($4 AS TIMESTAMPTZ) AS scored_at
           FROM (SELECT *, ${PREDICT_FUNCTION}(rowid, ${inputs.join(", ")}) AS ${PREDICTION}
                 FROM ${CHUNK_TABLE})
           WHERE ${PREDICTION} IS NOT NULL)
     TO ${sqlString(file)} (FORMAT parquet)`,
    [
      job.provenance.name,
      job.provenance.version,
      job.provenance.runId ?? null,
      new Date().toISOString(),
    ],
  );
  return Number(result.rowsChanged);
}

/** Rejected rows: id, model_version, reason, the row as read (JSON), rejected_at. */
async function copyRejects(
  connection: DuckDBConnection,
  stage: StagedScan,
  plan: ScanPlan,
  inputs: string[],
  rejected: number[],
  job: InDuckDBJob,
  file: string,
): Promise<number> {
  if (rejected.length === 0) return 0;
  const fields = new Map<string, string>([[plan.idRef.name, "k_id"]]);
  if (plan.sinceRef && !fields.has(plan.sinceRef.name)) fields.set(plan.sinceRef.name, "k_since");
  plan.refs.forEach((ref, i) => {
    if (!fields.has(ref.name)) fields.set(ref.name, `c${i}`);
  });
  const row = [...fields].map(([name, column]) => `${sqlIdentifier(name)} := ${column}`);
  // The row numbers reach DuckDB as a staged column: as a list parameter, a million of them
  // took longer to bind than the whole COPY.
  const numbers: StagedColumn = {
    type: DOUBLE,
    fill: (vector, start, count) => {
      const raw = doubleData(vector);
      for (let i = 0; i < count; i++) {
        if (raw) raw.items[i] = rejected[start + i];
        else vector.setItem(i, rejected[start + i]);
      }
    },
  };
  const result = await stage.with([numbers], rejected.length, (table) =>
    connection.run(
      `COPY (SELECT CAST(k_id AS VARCHAR) AS id, CAST($1 AS VARCHAR) AS model_version,
                    ${REJECT_REASON_FUNCTION}(${inputs.join(", ")}) AS reason,
                    CAST(to_json(struct_pack(${row.join(", ")})) AS VARCHAR) AS "row",
                    CAST($2 AS TIMESTAMPTZ) AS rejected_at
             FROM ${CHUNK_TABLE} WHERE rowid IN (SELECT CAST(c0 AS BIGINT) FROM ${table})
             ORDER BY rowid)
       TO ${sqlString(file)} (FORMAT parquet)`,
      [job.provenance.version, new Date().toISOString()],
    ),
  );
  return Number(result.rowsChanged);
}

async function firstRejected(
  connection: DuckDBConnection,
  inputs: string[],
  rejected: number[],
): Promise<{ id: string; reason: string } | undefined> {
  const first = rejected.reduce((min, row) => Math.min(min, row));
  const result = await connection.runAndReadAll(
    `SELECT CAST(k_id AS VARCHAR), ${REJECT_REASON_FUNCTION}(${inputs.join(", ")})
     FROM ${CHUNK_TABLE} WHERE rowid = CAST($1 AS BIGINT)`,
    [first],
  );
  const row = result.getRows()[0];
  return row ? { id: String(row[0]), reason: String(row[1]) } : undefined;
}
