import { stat } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import ort from "onnxruntime-node";
import type { Logger } from "../log/logger.js";
import { readBundle, type Bundle } from "./bundle.js";
import { readBundleFile, UnsafeBundleFile } from "./bundle-files.js";
import {
  OnnxRunner,
  openSession,
  type ModelInput,
  type RunPlan,
  type TensorType,
} from "./onnx-runner.js";
import { encodeStringInputs, type EncodedGraph, type StringCodes } from "./string-codes.js";
import { identityFeatures } from "./transform.js";
import {
  BundleError,
  type ColumnarBatch,
  type ColumnSpec,
  type ColumnType,
  type ModelInfo,
  type PredictionBatch,
  type PredictOptions,
  type Predictor,
} from "./types.js";
import { predictRecords } from "./validate.js";

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
  const { session, encoded } = await openBundleSession(bundle, options);
  const inputs = describeInputs(bundle, session, encoded?.codes ?? {});
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
  const outputType = describeOutput(bundle, session, output);
  const probabilities = describeProbabilities(bundle, session);
  const info: ModelInfo = {
    name: options.name ?? path.basename(bundle.path),
    version: options.version ?? bundle.runId ?? bundle.uuid ?? "unversioned",
    uuid: bundle.uuid,
    runId: bundle.runId,
    inputs: requestSchema,
    outputs: bundle.signature?.outputs.length
      ? bundle.signature.outputs
      : [{ name: output, type: outputType }],
    output,
    // Absent for numbers, as before there were classifiers: a regressor's info is unchanged.
    ...(outputType !== "double" ? { outputType } : {}),
    ...(probabilities ? { probabilities } : {}),
    path: bundle.path,
    loadMs: performance.now() - started,
  };
  options.logger?.info(
    {
      model: info.name,
      version: info.version,
      loadMs: Math.round(info.loadMs),
      ...(encoded ? { encodedInputs: Object.keys(encoded.codes) } : {}),
    },
    "model loaded",
  );
  const plan: RunPlan = {
    onnxPath: bundle.onnxPath,
    ...(encoded ? { onnxBytes: encoded.onnx } : {}),
    inputs,
    features,
    output,
    ...(outputType === "string" ? { textOutput: true } : {}),
    ...(probabilities
      ? { probabilities: { output: probabilities.name, classes: probabilities.classes.length } }
      : {}),
  };
  return new OnnxPredictor(new OnnxRunner(session, plan), info);
}

/** Larger graphs are run from their file as they are: decoding them would cost more than it saves. */
const MAX_ENCODED_MODEL_BYTES = 64 * 1024 * 1024;

/**
 * The bundle's graph in onnxruntime, with its string inputs encoded ahead of it where that is
 * equivalent (see string-codes.ts); the file as it is otherwise, or if onnxruntime refuses the
 * rewritten graph, which would be mldeploy's fault, not the model's.
 */
async function openBundleSession(
  bundle: Bundle,
  options: LoadPredictorOptions,
): Promise<{ session: ort.InferenceSession; encoded?: EncodedGraph }> {
  const encoded = await readSmallGraph(bundle).then((bytes) =>
    bytes ? encodeStringInputs(bytes) : undefined,
  );
  if (encoded) {
    try {
      return { session: await openSession(encoded.onnx, options.intraOpNumThreads), encoded };
    } catch (error) {
      options.logger?.warn(
        { err: (error as Error).message, inputs: Object.keys(encoded.codes) },
        "onnxruntime refused the graph with encoded string inputs; running the file as it is",
      );
    }
  }
  // From the path, not the bytes read above: onnxruntime finds a graph's external data files
  // (which the rewrite refuses) next to the model file.
  try {
    return { session: await openSession(bundle.onnxPath, options.intraOpNumThreads) };
  } catch (error) {
    throw new BundleError(
      bundle.path,
      `onnxruntime cannot load ${bundle.onnxFile}: ${(error as Error).message}`,
    );
  }
}

/**
 * The graph's bytes when small enough to rewrite, read with the bundle's file rules (checked
 * again: readBundle checked the file, but it may have been replaced since).
 */
async function readSmallGraph(bundle: Bundle): Promise<Buffer | undefined> {
  try {
    // onnxPath is a real path (no link in it), so this stat looks at the file itself.
    if ((await stat(bundle.onnxPath)).size > MAX_ENCODED_MODEL_BYTES) return undefined;
    return await readBundleFile(bundle.onnxPath, MAX_ENCODED_MODEL_BYTES);
  } catch (error) {
    const reason = error instanceof UnsafeBundleFile ? error.message : (error as Error).message;
    throw new BundleError(bundle.path, `${bundle.onnxFile} ${reason}`);
  }
}

/**
 * What the primary output holds: text labels, integer labels or numbers. Checked against the
 * signature's type for it, where it names one: a text label where the signature promises a
 * number (or the reverse) would reach callers in the wrong type.
 */
function describeOutput(
  bundle: Bundle,
  session: ort.InferenceSession,
  output: string,
): NonNullable<ModelInfo["outputType"]> {
  const meta = session.outputMetadata.find((each) => each.name === output);
  if (meta === undefined || !meta.isTensor) {
    throw new BundleError(
      bundle.path,
      `ONNX output "${output}" is not a tensor (maps and sequences, as skl2onnx's ZipMap gives, are not supported)`,
    );
  }
  const type =
    meta.type === "string"
      ? "string"
      : meta.type === "int64" || meta.type === "int32"
        ? "long"
        : meta.type === "float64" || meta.type === "float32"
          ? "double"
          : undefined;
  if (type === undefined) {
    throw new BundleError(bundle.path, `ONNX output "${output}" has unsupported type ${meta.type}`);
  }
  const declared = bundle.signature?.outputs.find((spec) => spec.name === output);
  if (declared && (declared.type === "string") !== (type === "string")) {
    throw new BundleError(
      bundle.path,
      `signature mismatch: output "${output}" is ${declared.type} in the signature but ${meta.type} in the ONNX graph`,
    );
  }
  return type;
}

/**
 * A classifier's probability output (mldeploy.classes and mldeploy.probabilities): a [N, C]
 * tensor of numbers, C the number of classes. Undefined for a model without classes.
 */
function describeProbabilities(
  bundle: Bundle,
  session: ort.InferenceSession,
): ModelInfo["probabilities"] {
  const classes = bundle.mldeploy?.classes;
  if (classes === undefined) return undefined;
  const name = bundle.mldeploy?.probabilities ?? "probabilities";
  const meta = session.outputMetadata.find((each) => each.name === name);
  if (meta === undefined) {
    throw new BundleError(
      bundle.path,
      `mldeploy.classes is given but the ONNX graph has no output "${name}" (it outputs ${session.outputNames.join(", ")}); name the probability output in mldeploy.probabilities`,
    );
  }
  const width = meta.isTensor && meta.shape.length === 2 ? meta.shape[1] : undefined;
  if (!meta.isTensor || !["float64", "float32"].includes(meta.type) || meta.shape.length !== 2) {
    const what = meta.isTensor ? `${meta.type} [${meta.shape.join(", ")}]` : "not a tensor";
    throw new BundleError(
      bundle.path,
      `ONNX output "${name}" (the class probabilities) is ${what}; expected [N, ${classes.length}] double`,
    );
  }
  if (typeof width === "number" && width > 0 && width !== classes.length) {
    throw new BundleError(
      bundle.path,
      `ONNX output "${name}" has ${width} columns but mldeploy.classes lists ${classes.length} classes`,
    );
  }
  return { name, classes };
}

/**
 * How to run the predictor's model again elsewhere (a worker thread) without reading and
 * checking its bundle again; undefined for a Predictor that is not an ONNX bundle's.
 */
export function runPlanOf(predictor: Predictor): RunPlan | undefined {
  return predictor instanceof OnnxPredictor ? predictor.runner.plan : undefined;
}

/**
 * Checks the ONNX graph's inputs against the signature, naming any mismatch. An encoded input
 * is checked as the string input it is in the bundle's graph.
 */
function describeInputs(
  bundle: Bundle,
  session: ort.InferenceSession,
  codes: Record<string, StringCodes>,
): ModelInput[] {
  const metadata = session.inputMetadata.map((meta) =>
    meta.isTensor && codes[meta.name] ? { ...meta, type: "string" as const } : meta,
  );
  const packed = packedInput(bundle, metadata);
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
  return metadata.map((meta): ModelInput => {
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
    const encoded = codes[meta.name];
    return {
      name: meta.name,
      type,
      columnVector: meta.shape.length === 2,
      ...(encoded ? { codes: encoded } : {}),
    };
  });
}

/**
 * The usual skl2onnx or torch.onnx export: every feature in one 2-D tensor ([N, k], e.g.
 * `float_input`). MLflow's onnx flavor feeds such a model the request's columns in signature
 * order, one row per request row, and so does this: a graph with one numeric input of width
 * k > 1 and a column signature of k columns (none of them the input itself) is "packed".
 */
function packedInput(
  bundle: Bundle,
  metadata: readonly ort.InferenceSession.ValueMetadata[],
): ModelInput | undefined {
  if (bundle.mldeploy || metadata.length !== 1) return undefined;
  const meta = metadata[0];
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
    readonly runner: OnnxRunner,
    readonly info: ModelInfo,
  ) {}

  async predictRecords(
    records: ReadonlyArray<Record<string, unknown>>,
    options?: PredictOptions,
  ): Promise<PredictionBatch> {
    return predictRecords(this, records, options);
  }

  async predictColumns(batch: ColumnarBatch, options?: PredictOptions): Promise<PredictionBatch> {
    const result = await this.runner.runOutputs(batch, options?.probabilities === true);
    return { rows: batch.rows, ...result };
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
