import path from "node:path";
import type { Logger } from "../log/logger.js";
import { UserError } from "../config/errors.js";
import { saveBundle } from "../model/bundle.js";
import type { Column, ColumnSpec, MldeploySection } from "../model/types.js";
import { RIDES_SPEC } from "../rides/index.js";
import { loadTrips, type LoadedTrips } from "./load-trips.js";
import {
  fitCategoricalLinear,
  predictLinear,
  rmse,
  type CategoricalLinearModel,
} from "./linear.js";
import { exportOnnx } from "./onnx-export.js";
import type { TrainingSpec } from "./spec.js";

export type TrainStage = "load-train" | "load-valid" | "fit" | "export" | "save";
const STAGES: TrainStage[] = ["load-train", "load-valid", "fit", "export", "save"];

export interface TrainOptions {
  /** Training data: Parquet or CSV file, or a glob. */
  trainPath: string;
  /** Validation data (e.g. the following month). */
  validPath: string;
  /** L2 penalty; 0 = ordinary least squares. */
  alpha?: number;
  /** Bundle directory to write (MLflow layout). */
  outDir: string;
  /** Domain description; the ride-duration use case by default. */
  spec?: TrainingSpec;
  runId?: string;
  logger?: Logger;
  /** Called as each stage starts, then once more with done === total. */
  onProgress?: (done: number, total: number, stage: TrainStage | "done") => void;
}

export interface TrainMetrics {
  train_rmse: number;
  valid_rmse: number;
  train_rows: number;
  valid_rows: number;
  categories: number;
}

export interface TrainResult {
  bundlePath: string;
  model: CategoricalLinearModel;
  metrics: TrainMetrics;
  uuid: string;
}

/** Loads, fits, evaluates and saves a categorical linear model as an MLflow-layout ONNX bundle. */
export async function trainModel(options: TrainOptions): Promise<TrainResult> {
  const spec: TrainingSpec = options.spec ?? RIDES_SPEC;
  const alpha = options.alpha ?? 0;
  const log = options.logger;
  const step = (stage: TrainStage): void =>
    options.onProgress?.(STAGES.indexOf(stage), STAGES.length, stage);

  step("load-train");
  const train = await loadTrips(options.trainPath, spec);
  log?.info(loadSummary(train), "loaded training data");
  if (train.rows === 0) throw new UserError(`${options.trainPath}: no rows left after filtering`);
  step("load-valid");
  const valid = await loadTrips(options.validPath, spec);
  log?.info(loadSummary(valid), "loaded validation data");
  if (valid.rows === 0) throw new UserError(`${options.validPath}: no rows left after filtering`);

  step("fit");
  const split = splitFeatures(spec, train);
  const started = performance.now();
  const model = fitCategoricalLinear({
    categoricalFeature: split.categorical,
    categorical: train.features[split.categorical] as string[],
    numericFeatures: split.numeric,
    numeric: split.numeric.map((name) => train.features[name] as Float64Array),
    target: train.target,
    alpha,
  });
  const predict = (data: LoadedTrips): Float64Array =>
    predictLinear(
      model,
      data.features[split.categorical] as string[],
      split.numeric.map((name) => data.features[name] as Float64Array),
    );
  const metrics: TrainMetrics = {
    train_rmse: rmse(train.target, predict(train)),
    valid_rmse: rmse(valid.target, predict(valid)),
    train_rows: train.rows,
    valid_rows: valid.rows,
    categories: model.categories.length,
  };
  log?.info({ ...metrics, alpha, fit_ms: Math.round(performance.now() - started) }, "fitted model");

  step("export");
  const onnx = exportOnnx(model, {
    outputName: spec.output,
    producer: "mldeploy",
    docString: `${spec.modelName}: linear model on ${split.categorical} (one-hot) + ${split.numeric.join(", ")}`,
  });

  step("save");
  const signature: { inputs: ColumnSpec[]; outputs: ColumnSpec[] } = {
    inputs: [
      { name: split.categorical, type: "string" },
      ...split.numeric.map((name): ColumnSpec => ({ name, type: "double" })),
    ],
    outputs: [{ name: spec.output, type: "double" }],
  };
  const mldeploy: MldeploySection = {
    format_version: 1,
    inputs: spec.inputs,
    features: spec.features,
    output: spec.output,
    input_example: spec.inputExample,
    training: {
      model:
        alpha === 0
          ? "LinearRegression (one-hot categorical)"
          : `Ridge(alpha=${alpha}) (one-hot categorical)`,
      alpha,
      target: spec.target.definition ?? spec.target.name,
      target_unit: spec.target.unit,
      filter: `${spec.target.min} <= ${spec.target.name} <= ${spec.target.max}`,
      train_data: options.trainPath,
      valid_data: options.validPath,
      train_rows_read: train.rowsRead,
      valid_rows_read: valid.rowsRead,
      metrics,
    },
  };
  const bundlePath = path.resolve(options.outDir);
  const { uuid, selfContained, featuresOutside } = await saveBundle(bundlePath, {
    onnx,
    signature,
    mldeploy,
    inputExample: spec.inputExample,
    ...(options.runId ? { runId: options.runId } : {}),
  });
  log?.info(
    { bundle: bundlePath, uuid, selfContained, ...(featuresOutside ? { featuresOutside } : {}) },
    "saved model bundle",
  );
  options.onProgress?.(STAGES.length, STAGES.length, "done");
  return { bundlePath, model, metrics, uuid };
}

/** The linear trainer takes exactly one string feature (one-hot) and any number of numeric ones. */
function splitFeatures(
  spec: TrainingSpec,
  data: LoadedTrips,
): { categorical: string; numeric: string[] } {
  const kinds = Object.keys(spec.features).map((name) => ({
    name,
    kind: columnKind(data.features[name]),
  }));
  const categorical = kinds.filter((f) => f.kind === "string").map((f) => f.name);
  const other = kinds.filter((f) => f.kind === "boolean").map((f) => f.name);
  if (categorical.length !== 1 || other.length) {
    throw new UserError(
      `the linear trainer needs exactly one string feature and otherwise numeric ones; got string: [${categorical.join(", ")}]` +
        (other.length ? `, boolean: [${other.join(", ")}]` : ""),
    );
  }
  return {
    categorical: categorical[0],
    numeric: kinds.filter((f) => f.kind === "number").map((f) => f.name),
  };
}

function columnKind(column: Column): "string" | "number" | "boolean" {
  if (column instanceof Float64Array) return "number";
  return column.length > 0 && typeof column[0] === "boolean" ? "boolean" : "string";
}

function loadSummary(data: LoadedTrips): Record<string, unknown> {
  return {
    source: data.source,
    format: data.format,
    naming: data.naming,
    rows_read: data.rowsRead,
    rows_kept: data.rows,
    dropped_missing: data.droppedMissing,
    dropped_target: data.droppedTarget,
  };
}
