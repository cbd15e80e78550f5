import path from "node:path";
import { performance } from "node:perf_hooks";
import ort from "onnxruntime-node";
import type { Logger } from "../log/logger.js";
import { readBundle, type Bundle } from "./bundle.js";
import { applyFeatures, identityFeatures } from "./transform.js";
import {
  BundleError,
  InputValidationError,
  type Column,
  type ColumnarBatch,
  type ColumnSpec,
  type ColumnType,
  type FeatureExpr,
  type ModelInfo,
  type PredictionBatch,
  type Predictor,
} from "./types.js";
import { validateRecords } from "./validate.js";

export interface LoadPredictorOptions {
  /** Model name reported to callers; defaults to the bundle directory's name. */
  name?: string;
  /** Version label reported as `model_version`; defaults to the run id, else the model uuid. */
  version?: string;
  logger?: Logger;
  /**
   * Threads onnxruntime may use inside one call. Serving runs one process per core, so 1 avoids
   * oversubscription; batch scoring of large chunks may raise it.
   */
  intraOpNumThreads?: number;
}

type TensorType = "string" | "float64" | "float32" | "int64" | "int32" | "bool";

interface ModelInput {
  name: string;
  type: TensorType;
  /** Rank-2 inputs of shape [N, 1] (common in skl2onnx exports) get a trailing unit dimension. */
  columnVector: boolean;
  /** A [N, k] input fed k request columns, row by row, in this order (see packedInput). */
  packed?: string[];
}

const columnToTensor: Record<ColumnType, TensorType> = {
  long: "int64",
  integer: "int32",
  double: "float64",
  float: "float32",
  string: "string",
  boolean: "bool",
};

const tensorToColumn: Partial<Record<string, ColumnType>> = {
  int64: "long",
  int32: "integer",
  float64: "double",
  float32: "float",
  string: "string",
  bool: "boolean",
};

/** Loads a bundle directory and returns a Predictor backed by one onnxruntime InferenceSession. */
export async function loadPredictor(
  location: string,
  options: LoadPredictorOptions = {},
): Promise<Predictor> {
  const started = performance.now();
  const bundle = await readBundle(location);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bundle.onnxPath, {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
    });
  } catch (error) {
    throw new BundleError(
      bundle.path,
      `onnxruntime cannot load ${path.basename(bundle.onnxPath)}: ${(error as Error).message}`,
    );
  }
  const inputs = describeInputs(bundle, session);
  const requestSchema =
    bundle.mldeploy?.inputs ?? bundle.signature?.inputs ?? inputs.map(inputAsColumn);
  const features = bundle.mldeploy?.features ?? identityFeatures(requestSchema);
  const output =
    bundle.mldeploy?.output ?? bundle.signature?.outputs[0]?.name ?? session.outputNames[0];
  if (!session.outputNames.includes(output)) {
    throw new BundleError(
      bundle.path,
      `signature mismatch: output "${output}" is not produced by the ONNX graph (it outputs ${session.outputNames.join(", ")})`,
    );
  }
  const info: ModelInfo = {
    name: options.name ?? path.basename(bundle.path),
    version: options.version ?? bundle.runId ?? bundle.uuid ?? "unversioned",
    uuid: bundle.uuid,
    runId: bundle.runId,
    inputs: requestSchema,
    outputs: bundle.signature?.outputs.length
      ? bundle.signature.outputs
      : [{ name: output, type: "double" }],
    output,
    path: bundle.path,
    loadMs: performance.now() - started,
  };
  options.logger?.info(
    { model: info.name, version: info.version, loadMs: Math.round(info.loadMs) },
    "model loaded",
  );
  return new OnnxPredictor(session, info, inputs, features);
}

/** Checks the ONNX graph's inputs against the signature, naming any mismatch. */
function describeInputs(bundle: Bundle, session: ort.InferenceSession): ModelInput[] {
  const packed = packedInput(bundle, session);
  if (packed) return [packed];
  const declared = bundle.signature?.inputs;
  if (declared) {
    for (const spec of declared) {
      if (!session.inputNames.includes(spec.name)) {
        throw new BundleError(
          bundle.path,
          `signature mismatch: signature input "${spec.name}" is not an input of the ONNX graph`,
        );
      }
    }
  }
  return session.inputMetadata.map((meta): ModelInput => {
    if (!meta.isTensor)
      throw new BundleError(
        bundle.path,
        `ONNX input "${meta.name}" is not a tensor (maps and sequences are not supported)`,
      );
    const spec = declared?.find((s) => s.name === meta.name);
    if (declared && !spec) {
      throw new BundleError(
        bundle.path,
        `signature mismatch: ONNX input "${meta.name}" is missing from the signature`,
      );
    }
    const type = meta.type as TensorType;
    if (!tensorToColumn[type])
      throw new BundleError(
        bundle.path,
        `ONNX input "${meta.name}" has unsupported type ${meta.type}`,
      );
    if (spec && columnToTensor[spec.type] !== type) {
      throw new BundleError(
        bundle.path,
        `signature mismatch: input "${meta.name}" is ${spec.type} in the signature but ${type} in the ONNX graph`,
      );
    }
    if (meta.shape.length > 2 || (meta.shape.length === 2 && meta.shape[1] !== 1)) {
      throw new BundleError(
        bundle.path,
        `ONNX input "${meta.name}" has shape [${meta.shape.join(", ")}]; only one value per row ([N] or [N, 1]) is supported`,
      );
    }
    return { name: meta.name, type, columnVector: meta.shape.length === 2 };
  });
}

/**
 * The usual skl2onnx or torch.onnx export: every feature in one 2-D tensor ([N, k], e.g.
 * `float_input`). MLflow's onnx flavor feeds such a model the request's columns in signature
 * order, one row per request row, and so does this: a graph with one numeric input of width
 * k > 1 and a column signature of k columns (none of them the input itself) is "packed".
 */
function packedInput(bundle: Bundle, session: ort.InferenceSession): ModelInput | undefined {
  if (bundle.mldeploy || session.inputMetadata.length !== 1) return undefined;
  const meta = session.inputMetadata[0];
  if (!meta.isTensor || meta.shape.length !== 2 || meta.shape[1] === 1) return undefined;
  const type = meta.type as TensorType;
  if (!tensorToColumn[type] || type === "string" || type === "bool") return undefined;
  const width = meta.shape[1];
  const shape = `[${meta.shape.join(", ")}]`;
  const columns = bundle.signature?.inputs;
  if (!columns || columns.some((column) => column.name === meta.name)) {
    throw new BundleError(
      bundle.path,
      `ONNX input "${meta.name}" has shape ${shape}, several values per row: name them with a ` +
        "column signature in MLmodel (mlflow.onnx.log_model(..., input_example=<a DataFrame>) writes one)",
    );
  }
  if (typeof width === "number" && width > 0 && width !== columns.length) {
    throw new BundleError(
      bundle.path,
      `signature mismatch: ONNX input "${meta.name}" ${shape} takes ${width} values per row, the signature names ${columns.length} columns`,
    );
  }
  const text = columns.find((column) => column.type === "string");
  if (text) {
    throw new BundleError(
      bundle.path,
      `signature mismatch: column "${text.name}" is a string, but it goes into the numeric ONNX input "${meta.name}" ${shape}`,
    );
  }
  return { name: meta.name, type, columnVector: false, packed: columns.map((c) => c.name) };
}

function inputAsColumn(input: ModelInput): ColumnSpec {
  return { name: input.name, type: tensorToColumn[input.type] ?? "double" };
}

class OnnxPredictor implements Predictor {
  constructor(
    private readonly session: ort.InferenceSession,
    readonly info: ModelInfo,
    private readonly inputs: ModelInput[],
    private readonly features: Record<string, FeatureExpr>,
  ) {}

  async predictRecords(records: ReadonlyArray<Record<string, unknown>>): Promise<PredictionBatch> {
    const { batch, errors } = validateRecords(records, this.info.inputs);
    if (errors.length) throw new InputValidationError(errors);
    return this.predictColumns(batch);
  }

  async predictColumns(batch: ColumnarBatch): Promise<PredictionBatch> {
    if (batch.rows === 0) return { rows: 0, values: new Float64Array(0) };
    const derived = applyFeatures(batch, this.features);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of this.inputs) {
      if (input.packed) {
        feeds[input.name] = packedTensor(derived, input, input.packed, batch.rows);
        continue;
      }
      const column = derived[input.name];
      if (!column)
        throw new Error(
          `model input "${input.name}" has no value (feature map does not produce it)`,
        );
      feeds[input.name] = toTensor(column, input, batch.rows);
    }
    const results = await this.session.run(feeds, [this.info.output]);
    const values = toFloat64(results[this.info.output].data);
    if (values.length !== batch.rows) {
      throw new Error(
        `model returned ${values.length} values for ${batch.rows} rows (output "${this.info.output}")`,
      );
    }
    return { rows: batch.rows, values };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function toTensor(column: Column, input: ModelInput, rows: number): ort.Tensor {
  const dims = input.columnVector ? [rows, 1] : [rows];
  switch (input.type) {
    case "string":
      // Feature expressions and string request columns already hold strings: no copy.
      return new ort.Tensor(
        "string",
        Array.isArray(column) && typeof column[0] === "string"
          ? (column as string[])
          : Array.from(column as ArrayLike<unknown>, String),
        dims,
      );
    case "float64":
      return new ort.Tensor(
        "float64",
        column instanceof Float64Array ? column : Float64Array.from(asNumbers(column)),
        dims,
      );
    case "float32":
      return new ort.Tensor("float32", Float32Array.from(asNumbers(column)), dims);
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(asNumbers(column), (v) => BigInt(v)),
        dims,
      );
    case "int32":
      return new ort.Tensor("int32", Int32Array.from(asNumbers(column)), dims);
    case "bool":
      return new ort.Tensor("bool", Uint8Array.from(asNumbers(column)), dims);
  }
}

/** Request columns side by side in one [rows, columns] tensor, row-major as onnxruntime reads it. */
function packedTensor(
  derived: Record<string, Column>,
  input: ModelInput,
  names: string[],
  rows: number,
): ort.Tensor {
  const width = names.length;
  // Filled in the tensor's own element type; int64 alone goes through doubles to BigInt64Array.
  const values =
    input.type === "float32"
      ? new Float32Array(rows * width)
      : input.type === "int32"
        ? new Int32Array(rows * width)
        : new Float64Array(rows * width);
  names.forEach((name, j) => {
    const column = derived[name];
    if (!column) throw new Error(`model input "${input.name}" column "${name}" has no value`);
    const numbers = asNumbers(column);
    for (let i = 0; i < rows; i++) values[i * width + j] = numbers[i];
  });
  const dims = [rows, width];
  switch (input.type) {
    case "float64":
    case "float32":
    case "int32":
      return new ort.Tensor(input.type, values, dims);
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(values, (v) => BigInt(v)),
        dims,
      );
    default:
      throw new Error(`model input "${input.name}" of type ${input.type} cannot be packed`);
  }
}

// A request column reaches a model input of another numeric kind only through the feature map;
// validation has already made numeric columns Float64Array, so this only converts representation.
function asNumbers(column: Column): ArrayLike<number> {
  if (column instanceof Float64Array) return column;
  return Array.from(column as ArrayLike<unknown>, (v) =>
    typeof v === "boolean" ? (v ? 1 : 0) : Number(v),
  );
}

function toFloat64(data: unknown): Float64Array {
  if (data instanceof Float64Array) return data;
  if (data instanceof Float32Array || data instanceof Int32Array) return Float64Array.from(data);
  if (data instanceof BigInt64Array) return Float64Array.from(data, Number);
  throw new Error("model output is not numeric");
}
