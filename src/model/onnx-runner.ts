import ort from "onnxruntime-node";
import type { StringCodes } from "./string-codes.js";
import { applyFeatures } from "./transform.js";
import type { Column, ColumnarBatch, FeatureExpr } from "./types.js";

/**
 * Running an ONNX graph on validated request columns: the feature map, the tensors, the session.
 * Kept apart from the bundle's reading and checking (predictor.ts), so that a worker thread
 * given a RunPlan loads only onnxruntime (see batch/files/predict-worker.ts).
 */

export type TensorType = "string" | "float64" | "float32" | "int64" | "int32" | "bool";

export interface ModelInput {
  name: string;
  type: TensorType;
  /** Rank-2 inputs of shape [N, 1] (common in skl2onnx exports) get a trailing unit dimension. */
  columnVector: boolean;
  /** A [N, k] input fed k request columns, row by row, in this order (see packedInput). */
  packed?: string[];
  /** A string input whose LabelEncoder runs here: the graph takes these int64 codes instead. */
  codes?: StringCodes;
}

/** A checked bundle's graph and how to feed it, as plain data (it crosses to worker threads). */
export interface RunPlan {
  onnxPath: string;
  /** The graph to run when it differs from the file's (string inputs encoded, see codes). */
  onnxBytes?: Uint8Array;
  inputs: ModelInput[];
  features: Record<string, FeatureExpr>;
  output: string;
}

export function openSession(
  onnx: string | Uint8Array,
  intraOpNumThreads = 1,
): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
  };
  return typeof onnx === "string"
    ? ort.InferenceSession.create(onnx, options)
    : ort.InferenceSession.create(onnx, options);
}

/** The plan's session: its rewritten graph if it has one, else the bundle's file. */
export function openPlanSession(
  plan: RunPlan,
  intraOpNumThreads = 1,
): Promise<ort.InferenceSession> {
  return openSession(plan.onnxBytes ?? plan.onnxPath, intraOpNumThreads);
}

export class OnnxRunner {
  private readonly lookups = new Map<string, CodeLookup>();

  constructor(
    private readonly session: ort.InferenceSession,
    readonly plan: RunPlan,
  ) {
    for (const input of plan.inputs) {
      if (input.codes) this.lookups.set(input.name, new CodeLookup(input.codes));
    }
  }

  /** The model's output for each row of the batch. */
  async run(batch: ColumnarBatch): Promise<Float64Array> {
    if (batch.rows === 0) return new Float64Array(0);
    const derived = applyFeatures(batch, this.plan.features);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of this.plan.inputs) {
      if (input.packed) {
        feeds[input.name] = packedTensor(derived, input, input.packed, batch.rows);
        continue;
      }
      const column = derived[input.name];
      if (!column)
        throw new Error(
          `model input "${input.name}" has no value (feature map does not produce it)`,
        );
      const lookup = this.lookups.get(input.name);
      feeds[input.name] = lookup
        ? lookup.tensor(column, input, batch.rows)
        : toTensor(column, input, batch.rows);
    }
    const output = this.plan.output;
    const results = await this.session.run(feeds, [output]);
    const values = toFloat64(results[output].data);
    if (values.length !== batch.rows) {
      throw new Error(
        `model returned ${values.length} values for ${batch.rows} rows (output "${output}")`,
      );
    }
    return values;
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

/** The texts' codes as onnxruntime's LabelEncoder would give them (see string-codes.ts). */
class CodeLookup {
  private readonly byText: Map<string, number>;
  private readonly fallback: number;

  constructor(codes: StringCodes) {
    this.byText = new Map(codes.keys.map((key, index) => [key, codes.codes[index]]));
    this.fallback = codes.fallback;
  }

  tensor(column: Column, input: ModelInput, rows: number): ort.Tensor {
    const texts =
      Array.isArray(column) && typeof column[0] === "string"
        ? (column as string[])
        : Array.from(column as ArrayLike<unknown>, String);
    const codes = new BigInt64Array(rows);
    // Written as two 32-bit words per code: BigInt conversion per row would cost more than the
    // lookup. Codes are int32, so the high word is the sign.
    const words = new Int32Array(codes.buffer);
    for (let row = 0; row < rows; row++) {
      const code = this.byText.get(texts[row]) ?? this.fallback;
      words[2 * row + LOW_WORD] = code;
      words[2 * row + 1 - LOW_WORD] = code >> 31;
    }
    return new ort.Tensor("int64", codes, input.columnVector ? [rows, 1] : [rows]);
  }
}

/** Index of an int64's low 32-bit word in memory: 0 on a little-endian host. */
const LOW_WORD = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 0 : 1;

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
