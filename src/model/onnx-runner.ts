import ort from "onnxruntime-node";
import type { StringCodes } from "./string-codes.js";
import {
  evaluateFeature,
  MAX_PAIR_TEXTS,
  pairFeature,
  pairKey,
  type PairFeature,
} from "./transform.js";
import type { Column, ColumnarBatch, FeatureExpr, PredictionValues } from "./types.js";

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
  /** The output's values are text (a classifier's string labels); numbers otherwise. */
  textOutput?: boolean;
  /** A classifier's probability output and its width (the number of classes). */
  probabilities?: { output: string; classes: number };
}

/** What one run gives: the primary output, and the probabilities when they were asked for. */
export interface RunResult {
  values: PredictionValues;
  /** Row-major [rows, classes]. */
  probabilities?: Float64Array;
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
  async run(batch: ColumnarBatch): Promise<PredictionValues> {
    return (await this.runOutputs(batch, false)).values;
  }

  /**
   * The model's output for each row of the batch, and its class probabilities when asked for
   * (onnxruntime computes only the outputs it is asked for).
   */
  async runOutputs(batch: ColumnarBatch, withProbabilities: boolean): Promise<RunResult> {
    const probabilities = withProbabilities ? this.plan.probabilities : undefined;
    if (batch.rows === 0) {
      return {
        values: this.plan.textOutput ? [] : new Float64Array(0),
        ...(probabilities ? { probabilities: new Float64Array(0) } : {}),
      };
    }
    const derived: Record<string, Column> = {};
    const column = (name: string): Column | undefined => {
      const expr = this.plan.features[name];
      if (expr) derived[name] ??= evaluateFeature(expr, batch);
      return derived[name];
    };
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of this.plan.inputs) {
      if (input.packed) {
        feeds[input.name] = packedTensor(column, input, input.packed, batch.rows);
        continue;
      }
      const lookup = this.lookups.get(input.name);
      const expr = this.plan.features[input.name];
      // A zone-pair feature goes straight from the two numbers to its code, without its text.
      const pair = lookup && expr ? pairFeature(expr, batch) : undefined;
      if (lookup && pair) {
        feeds[input.name] = lookup.pairTensor(pair, input, batch.rows);
        continue;
      }
      const values = column(input.name);
      if (!values)
        throw new Error(
          `model input "${input.name}" has no value (feature map does not produce it)`,
        );
      feeds[input.name] = lookup
        ? lookup.tensor(values, input, batch.rows)
        : toTensor(values, input, batch.rows);
    }
    const output = this.plan.output;
    const names = probabilities ? [output, probabilities.output] : [output];
    const results = await this.session.run(feeds, names);
    const values = toValues(results[output].data);
    if (values.length !== batch.rows) {
      throw new Error(
        `model returned ${values.length} values for ${batch.rows} rows (output "${output}")`,
      );
    }
    if (!probabilities) return { values };
    const table = toFloat64(results[probabilities.output].data);
    if (table.length !== batch.rows * probabilities.classes) {
      throw new Error(
        `model returned ${table.length} probabilities for ${batch.rows} rows of ${probabilities.classes} classes (output "${probabilities.output}")`,
      );
    }
    return { values, probabilities: table };
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
      return new ort.Tensor("int64", toInt64(asNumbers(column)), dims);
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
  /** Codes already found for a pair feature, by pair key (see transform.ts). */
  private byPair = new Map<number, number>();

  constructor(codes: StringCodes) {
    this.byText = new Map(codes.keys.map((key, index) => [key, codes.codes[index]]));
    this.fallback = codes.fallback;
  }

  tensor(column: Column, input: ModelInput, rows: number): ort.Tensor {
    const texts =
      Array.isArray(column) && typeof column[0] === "string"
        ? (column as string[])
        : Array.from(column as ArrayLike<unknown>, String);
    const codes = new CodeTensor(rows);
    for (let row = 0; row < rows; row++) codes.set(row, this.codeOf(texts[row]));
    return codes.tensor(input);
  }

  pairTensor(pair: PairFeature, input: ModelInput, rows: number): ort.Tensor {
    if (this.byPair.size > MAX_PAIR_TEXTS) this.byPair = new Map();
    const codes = new CodeTensor(rows);
    for (let row = 0; row < rows; row++) {
      const key = pairKey(pair.first[row], pair.second[row]);
      let code = key < 0 ? undefined : this.byPair.get(key);
      if (code === undefined) {
        code = this.codeOf(pair.textAt(row));
        if (key >= 0) this.byPair.set(key, code);
      }
      codes.set(row, code);
    }
    return codes.tensor(input);
  }

  private codeOf(text: string): number {
    return this.byText.get(text) ?? this.fallback;
  }
}

/**
 * An int64 tensor of int32 codes, written as two 32-bit words per code: a BigInt conversion
 * per row would cost more than the lookup. The high word is the code's sign.
 */
class CodeTensor {
  private readonly codes: BigInt64Array;
  private readonly words: Int32Array;

  constructor(private readonly rows: number) {
    this.codes = new BigInt64Array(rows);
    this.words = new Int32Array(this.codes.buffer);
  }

  set(row: number, code: number): void {
    this.words[2 * row + LOW_WORD] = code;
    this.words[2 * row + 1 - LOW_WORD] = code >> 31;
  }

  tensor(input: ModelInput): ort.Tensor {
    return new ort.Tensor("int64", this.codes, input.columnVector ? [this.rows, 1] : [this.rows]);
  }
}

/** Index of an int64's low 32-bit word in memory: 0 on a little-endian host. */
const LOW_WORD = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 0 : 1;

/**
 * Integers (validated `long` columns, ids a self-contained graph keys on) as int64, written as
 * two 32-bit words each: BigInt(v) per row costs more than the rest of a small model's run.
 * Anything but a safe integer goes through BigInt, which refuses a fraction as before.
 */
function toInt64(values: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(values.length);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isSafeInteger(value)) {
      out[i] = BigInt(value);
      continue;
    }
    words[2 * i + LOW_WORD] = value >>> 0;
    words[2 * i + 1 - LOW_WORD] = Math.floor(value / 4294967296);
  }
  return out;
}

/** Request columns side by side in one [rows, columns] tensor, row-major as onnxruntime reads it. */
function packedTensor(
  column: (name: string) => Column | undefined,
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
    const source = column(name);
    if (!source) throw new Error(`model input "${input.name}" column "${name}" has no value`);
    const numbers = asNumbers(source);
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

/** A label or value column: text as onnxruntime gives it (no copy), numbers as float64. */
function toValues(data: unknown): PredictionValues {
  return Array.isArray(data) ? (data as string[]) : toFloat64(data);
}

function toFloat64(data: unknown): Float64Array {
  if (data instanceof Float64Array) return data;
  if (data instanceof Float32Array || data instanceof Int32Array) return Float64Array.from(data);
  if (data instanceof BigInt64Array) return Float64Array.from(data, Number);
  throw new Error("model output is not numeric");
}
