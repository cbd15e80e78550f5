/**
 * The default reference: the rows the model version was trained on, read again from the
 * training file its run recorded, kept by the trainer's own filter (train/load-trips.ts
 * prepareTrips: complete inputs, target within the recorded range), with the prediction
 * column computed by running the model over them in chunks.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UserError } from "../../../config/errors.js";
import { copyVector, sqlIdentifier, sqlString } from "../../../duckdb/index.js";
import { readBundle } from "../../../model/bundle.js";
import { loadPredictor } from "../../../model/predictor.js";
import type {
  Column,
  ColumnSpec,
  ColumnarBatch,
  PredictionValues,
  Predictor,
} from "../../../model/types.js";
import { RegistryError } from "../../../registry/errors.js";
import type { LocalModel, Registry } from "../../../registry/registry.js";
import type { Run } from "../../../registry/store/types.js";
import { prepareTrips } from "../../../train/load-trips.js";
import type { FrameColumn, WindowFrame } from "../types.js";
import {
  checkTableName,
  count,
  describeRows,
  materialize,
  sqlTypeOf,
  useUtc,
  type SourceContext,
} from "./context.js";

export interface TrainingReferenceOptions {
  table: string;
  registry: Registry;
  /** The resolved model version (its bundle and run). */
  model: LocalModel;
  /** That version, loaded (the caller closes it); absent, it is loaded here and closed. */
  predictor?: Predictor;
  columns: FrameColumn[];
  maxRows?: number;
}

export type TrainingFacts = { metric: string; rmse: number } | null;

/** Rows the model predicts at once while building the reference. */
const PREDICT_ROWS = 65_536;

/** Metrics compared with the real error, best first: held-out data, then the training data. */
const METRICS = ["valid_rmse", "train_rmse"] as const;

async function runOf(registry: Registry, runId: string | undefined): Promise<Run | undefined> {
  if (runId === undefined) return undefined;
  try {
    return await registry.store.getRun(runId);
  } catch (error) {
    if (error instanceof RegistryError && error.code === "NOT_FOUND") return undefined;
    throw error;
  }
}

/** The training RMSE of a run (valid_rmse, else train_rmse); null without a run or metric. */
export async function trainingMetric(
  registry: Registry,
  runId: string | undefined,
): Promise<TrainingFacts> {
  const run = await runOf(registry, runId);
  return metricFrom(run?.latestMetrics);
}

function metricFrom(metrics: Record<string, unknown> | undefined): TrainingFacts {
  for (const metric of METRICS) {
    const value = metrics?.[metric];
    if (typeof value === "number" && Number.isFinite(value)) return { metric, rmse: value };
  }
  return null;
}

const HINT =
  "compare with a period of the prediction log instead (--reference-from/--reference-to) " +
  "or with a file of rides (--reference <file.parquet>)";

/**
 * The target range the model was trained on ("1 <= duration <= 60" in the bundle's
 * mldeploy.training.filter), or undefined when the bundle records none (an imported model).
 */
export async function trainingTargetRange(
  bundleDir: string,
): Promise<{ min: number; max: number; filter: string } | undefined> {
  const filter = (await readBundle(bundleDir)).mldeploy?.training?.filter;
  const range = parseFilter(filter);
  return range && typeof filter === "string" ? { ...range, filter } : undefined;
}

/** "1 <= duration <= 60", as train.ts records it. */
function parseFilter(filter: unknown): { min: number; max: number } | undefined {
  if (typeof filter !== "string") return undefined;
  const match = /^\s*(-?[\d.eE+-]+)\s*<=\s*\w+\s*<=\s*(-?[\d.eE+-]+)\s*$/.exec(filter);
  if (!match) return undefined;
  const [min, max] = [Number(match[1]), Number(match[2])];
  return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : undefined;
}

export async function loadTrainingReference(
  ctx: SourceContext,
  o: TrainingReferenceOptions,
): Promise<WindowFrame & { runId?: string; training: TrainingFacts }> {
  const table = checkTableName(o.table);
  const { connection } = ctx;
  await useUtc(connection);
  const bundle = await readBundle(o.model.path);
  const runId = o.model.runId ?? bundle.runId;
  const label =
    o.model.name !== undefined
      ? `model ${o.model.name} version ${o.model.version ?? "?"}`
      : `model ${o.model.path}`;
  const training = bundle.mldeploy?.training;
  const run = await runOf(o.registry, runId);
  const trainData =
    typeof training?.train_data === "string" ? training.train_data : run?.params.train;
  if (trainData === undefined)
    throw new UserError(
      `${label} has no training data on record (its MLmodel has no mldeploy.training.train_data` +
        `${runId !== undefined ? ` and its run ${runId} no "train" param` : ", and it names no run"}; ` +
        `a model imported from scikit-learn or another tool has none): ${HINT}`,
    );
  const range = parseFilter(training?.filter);
  const inputs: ColumnSpec[] | undefined = bundle.mldeploy?.inputs ?? bundle.signature?.inputs;
  if (range === undefined || inputs === undefined)
    throw new UserError(
      `${label}: its MLmodel does not record the training filter and request columns ` +
        `(mldeploy.training.filter, mldeploy.inputs), so its training rows cannot be rebuilt: ${HINT}`,
    );
  if (!/[*?[{]/.test(trainData) && !(await stat(trainData).catch(() => undefined))?.isFile())
    throw new UserError(
      `the training data of ${label}, ${trainData}, is not there (moved, or trained on another machine): ${HINT}`,
    );

  const trips = `${table}__trips`;
  const rowsTable = `${table}__inputs`;
  const dir = await mkdtemp(path.join(tmpdir(), "mldeploy-reference-"));
  try {
    const prepared = await prepareTrips(connection, trainData, { inputs, target: range }, trips);
    const names = inputs.map((input) => input.name);
    const m = await materialize(
      connection,
      rowsTable,
      // Every training ride with its inputs, the target filter not applied: a request has no
      // actual duration to be filtered on, so requests are compared with all the rides the
      // model could have been asked about. (The error metrics apply the filter to the actuals.)
      prepared.completeSql(names),
      o.maxRows,
    );
    const stage = path.join(dir, "predictions.csv");
    const predictor =
      o.predictor ??
      (await loadPredictor(o.model.path, {
        name: o.model.name,
        version: o.model.version,
        logger: ctx.logger,
      }));
    let outputType: "string" | "number";
    try {
      outputType = predictor.info.outputType === "string" ? "string" : "number";
      await predictRows(ctx, rowsTable, inputs, stage, (batch) => predictor.predictColumns(batch));
    } finally {
      if (o.predictor === undefined) await predictor.close();
    }

    const output = o.columns.find((c) => c.role === "prediction");
    const present = o.columns.filter(
      (c) => c === output || (c.role === "input" && names.includes(c.name)),
    );
    const predictions = `read_csv(${sqlString(stage)}, header = false, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, columns = {'row': 'BIGINT', 'prediction': '${outputType === "string" ? "VARCHAR" : "DOUBLE"}'})`;
    const columns = present.map((c) => {
      const source = c === output ? "p.prediction" : `i.${sqlIdentifier(c.name)}`;
      return `TRY_CAST(${source} AS ${sqlTypeOf(c.dtype)}) AS ${sqlIdentifier(c.name)}`;
    });
    await connection.run(
      `CREATE OR REPLACE TABLE ${sqlIdentifier(table)} AS
       SELECT CAST(NULL AS TIMESTAMP) AS time, CAST(NULL AS VARCHAR) AS version, CAST(NULL AS VARCHAR) AS id, ${columns.join(", ")}
       FROM (SELECT rowid AS row, * FROM ${sqlIdentifier(rowsTable)}) AS i
       ${m.rows > 0 ? `JOIN ${predictions} AS p USING (row)` : "CROSS JOIN (SELECT NULL AS prediction) AS p"} ORDER BY i.row`,
    );
    const recorded = await trainingMetric(o.registry, runId);
    const facts =
      recorded ??
      metricFrom((training?.metrics as Record<string, unknown> | undefined) ?? undefined);
    return {
      table,
      rows: m.rows,
      columns: present,
      description:
        `training data of ${label}${runId !== undefined ? ` (run ${runId})` : ""}: ${trainData}, ` +
        `${count(prepared.rowsRead - prepared.droppedMissing)} of ${count(prepared.rowsRead)} rows with every input ` +
        `(the trainer's target filter ${String(training?.filter)} left out: requests cannot be filtered on it)` +
        `${m.sampled ? describeRows(m) : ""}; predictions by the model`,
      kind: "training",
      skipped: [],
      versions: [],
      ...(runId !== undefined ? { runId } : {}),
      training: facts,
    };
  } finally {
    await connection.run(`DROP TABLE IF EXISTS ${sqlIdentifier(trips)}`);
    await connection.run(`DROP TABLE IF EXISTS ${sqlIdentifier(rowsTable)}`);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Streams the rows of `table` (rowid and the request columns) through `predict`, PREDICT_ROWS
 * at a time, writing "rowid,prediction" lines to `stage`.
 */
async function predictRows(
  ctx: SourceContext,
  table: string,
  inputs: ColumnSpec[],
  stage: string,
  predict: (batch: ColumnarBatch) => Promise<{ values: PredictionValues }>,
): Promise<void> {
  const numeric = inputs.map((s) => s.type !== "string" && s.type !== "boolean");
  const select = [
    "CAST(rowid AS DOUBLE)",
    ...inputs.map((s, i) =>
      numeric[i] ? `CAST(${sqlIdentifier(s.name)} AS DOUBLE)` : sqlIdentifier(s.name),
    ),
  ];
  const out = createWriteStream(stage);
  const failed = new Promise<never>((_, reject) => out.on("error", reject));
  failed.catch(() => undefined);
  const result = await ctx.connection.stream(
    `SELECT ${select.join(", ")} FROM ${sqlIdentifier(table)}`,
  );
  let rowIds: unknown[] = [];
  let cells: unknown[][] = inputs.map(() => []);
  const flush = async () => {
    if (rowIds.length === 0) return;
    const columns: Record<string, Column> = {};
    inputs.forEach((spec, i) => {
      const values = cells[i];
      columns[spec.name] = numeric[i]
        ? Float64Array.from(values, (v) => (v === null ? Number.NaN : Number(v)))
        : spec.type === "boolean"
          ? values.map((v) => v === true)
          : values.map((v) => (v === null ? "" : String(v)));
    });
    const { values } = await predict({ rows: rowIds.length, columns });
    let text = "";
    for (let r = 0; r < rowIds.length; r++) {
      const value = values[r];
      text += `${String(rowIds[r])},${typeof value === "string" ? `"${value.replaceAll('"', '""')}"` : Number.isFinite(value) ? String(value) : ""}\n`;
    }
    if (!out.write(text))
      await Promise.race([
        new Promise<void>((resolve) => out.once("drain", () => resolve())),
        failed,
      ]);
    rowIds = [];
    cells = inputs.map(() => []);
  };
  try {
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const rows = chunk.rowCount;
      copyVector(chunk.getColumnVector(0), "number", rows, 0, rowIds);
      inputs.forEach((spec, i) =>
        copyVector(
          chunk.getColumnVector(i + 1),
          numeric[i] ? "number" : spec.type === "boolean" ? "boolean" : "string",
          rows,
          0,
          cells[i],
        ),
      );
      if (rowIds.length >= PREDICT_ROWS) await flush();
    }
    await flush();
    await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed]);
  } finally {
    out.destroy();
  }
}
