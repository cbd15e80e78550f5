import { UserError } from "../config/errors.js";

/**
 * Contracts shared by the model layer and everything above it (train, serve, batch, stream).
 * Nothing here depends on onnxruntime, HTTP or SQL.
 */

/** MLflow column types (mlflow.types.DataType) that mldeploy understands. */
export type ColumnType = "long" | "integer" | "double" | "float" | "string" | "boolean";

/** One column of a schema: MLflow's column spec plus optional value bounds checked on input. */
export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** MLflow's `required`; absent means required. */
  required?: boolean;
  /** Inclusive bounds for numeric columns; a value outside is rejected with the field named. */
  minimum?: number;
  maximum?: number;
}

/** A value of a column in a columnar batch: numbers for numeric types, strings otherwise. */
export type Column = Float64Array | string[] | boolean[];

/** Columnar batch: one array per column, all of the same length `rows`. */
export interface ColumnarBatch {
  rows: number;
  columns: Record<string, Column>;
}

/**
 * A derived feature computed from request columns before the ONNX graph runs: a column as it
 * is, texts and columns joined into one string (numbers printed as Python's str() prints
 * them), or numbers and numeric columns added up.
 */
export type FeatureExpr =
  | { column: string }
  | { concat: Array<string | { column: string }> }
  | { sum: Array<number | { column: string }> };

/** The `mldeploy` section of MLmodel: what the request looks like and how features derive from it. */
export interface MldeploySection {
  format_version: 1;
  /** Columns a caller sends (the request schema). */
  inputs: ColumnSpec[];
  /**
   * ONNX input name -> expression over request columns, applied by mldeploy before the graph.
   * Absent in a self-contained bundle, whose graph takes the request columns and builds its
   * features itself (see inline-features.ts); bundles written before that, and models whose
   * features cannot be compiled into the graph, keep it.
   */
  features?: Record<string, FeatureExpr>;
  /** Name of the output column returned to callers (e.g. "duration"). */
  output: string;
  /** Example request records (request columns), used for docs, `curl` hints and smoke tests. */
  input_example?: Record<string, unknown>[];
  /** Free-form training facts (target, filter, metrics) shown by `mldeploy info`. */
  training?: Record<string, unknown>;
  /**
   * A classifier's classes, in the order of its probability columns (as scikit-learn's
   * `classes_`). The primary output is then the label and `probabilities` the [N, classes]
   * output; absent for regressors.
   */
  classes?: Array<string | number>;
  /** The classifier's probability output ([N, classes] double); "probabilities" when absent. */
  probabilities?: string;
  /** For a model imported from the Python world: the file it was converted from. */
  source?: { file: string; sha256: string; format: string; bytes?: number; uri?: string };
  /** For an imported model: what was found in it and which mldeploy converted it. */
  importer?: {
    estimator: string;
    kind?: string;
    library?: { name: string; version?: string };
    mldeploy: string;
  };
  /** For an imported model: `mldeploy import --check` (the original model run by Python). */
  check?: Record<string, unknown>;
  /** For an imported model: the --feature declarations as given. */
  declared_features?: string[];
}

/** What a loaded bundle says about itself. */
export interface ModelInfo {
  /** Model name (registry name, or the bundle directory name). */
  name: string;
  /** Version label returned to callers as `model_version`. */
  version: string;
  /** MLmodel's model_uuid. */
  uuid: string;
  /** MLmodel's run_id: the tracking run that produced the model, when it says. */
  runId?: string;
  /** Request schema: mldeploy.inputs if present, else the MLflow signature inputs. */
  inputs: ColumnSpec[];
  /** Signature outputs (name + type). */
  outputs: ColumnSpec[];
  /** The primary output name returned by /predict (mldeploy.output or the first signature output). */
  output: string;
  /**
   * The primary output's values: "string" for a classifier with text labels (e.g. "short",
   * "long"), "long" for integer labels, "double" (or absent) for numbers as regressors give.
   * Every numeric output is handed over as float64.
   */
  outputType?: "double" | "long" | "string";
  /** A classifier's probability output, when the model has one. */
  probabilities?: ProbabilityOutput;
  /** Absolute path of the bundle directory. */
  path: string;
  /** Milliseconds spent loading (reading, validating, creating the ONNX session). */
  loadMs: number;
}

/** A field-level problem with one input row. */
export interface FieldError {
  /** Row index in the request (0 for a single object). */
  row: number;
  /** The field that is wrong (request column name), or "" when the row itself is wrong. */
  field: string;
  message: string;
}

/** Thrown when input does not match the schema; carries every problem found (capped). */
export class InputValidationError extends UserError {
  readonly errors: FieldError[];
  constructor(errors: FieldError[]) {
    const first = errors[0];
    super(
      first
        ? `${first.field ? `field "${first.field}"` : "input"}${errors.length > 1 || first.row > 0 ? ` (row ${first.row})` : ""}: ${first.message}` +
            (errors.length > 1 ? ` (and ${errors.length - 1} more)` : "")
        : "invalid input",
    );
    this.name = "InputValidationError";
    this.errors = errors;
  }
}

/** Thrown when a model bundle is missing a file or is malformed; names the file and the problem. */
export class BundleError extends UserError {
  constructor(
    readonly bundlePath: string,
    message: string,
  ) {
    super(`model bundle ${bundlePath}: ${message}`);
    this.name = "BundleError";
  }
}

/** A classifier's probability output: its graph output name and the classes of its columns. */
export interface ProbabilityOutput {
  name: string;
  /** The classes, in column order (the labels the primary output gives). */
  classes: Array<string | number>;
}

/**
 * One prediction per row: numbers as float64 (a regressor's value, a numeric label), or the
 * labels of a classifier whose classes are strings.
 */
export type PredictionValues = Float64Array | string[];

/** Predictions for a batch: the primary output in its own type, one value per row. */
export interface PredictionBatch {
  rows: number;
  /** Primary output values (same order as the input rows). */
  values: PredictionValues;
  /** The class probabilities, row-major [rows, classes], when asked for (PredictOptions). */
  probabilities?: Float64Array;
}

export interface PredictOptions {
  /**
   * Also return a classifier's class probabilities (ignored for a model without them). Off by
   * default: the graph then computes and copies only the primary output.
   */
  probabilities?: boolean;
}

/** No predictions, in the type the model's predictions have. */
export function noPredictions(info: Pick<ModelInfo, "outputType">): PredictionValues {
  return info.outputType === "string" ? [] : new Float64Array(0);
}

/** Rows [start, end) of a prediction column, without copying numbers. */
export function slicePredictions(
  values: PredictionValues,
  start: number,
  end: number,
): PredictionValues {
  return values instanceof Float64Array ? values.subarray(start, end) : values.slice(start, end);
}

/** Runs a loaded model. Implementations are safe to call concurrently. */
export interface Predictor {
  readonly info: ModelInfo;
  /** Predict for an already validated columnar batch of request columns. */
  predictColumns(batch: ColumnarBatch, options?: PredictOptions): Promise<PredictionBatch>;
  /** Validate records (objects keyed by request column) and predict; throws InputValidationError. */
  predictRecords(
    records: ReadonlyArray<Record<string, unknown>>,
    options?: PredictOptions,
  ): Promise<PredictionBatch>;
  close(): Promise<void>;
}
