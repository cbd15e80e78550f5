import { randomUUID } from "node:crypto";
import { mkdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import {
  bundleRoot,
  readBundleFile,
  resolveBundleFile,
  UnsafeBundleFile,
  type BundleFile,
} from "./bundle-files.js";
import {
  formatSignatureSide,
  formatZodIssues,
  mldeploySectionSchema,
  parseSignatureSide,
} from "./schema.js";
import { inlineFeatures } from "./inline-features.js";
import {
  environmentFiles,
  exampleFiles,
  flavors,
  MLFLOW_VERSION,
  MODEL_FILE,
  pythonYaml,
  savedInputExampleInfo,
  totalFileSize,
  utcTimeCreated,
  type SplitExample,
} from "./mlflow-files.js";
import { applyFeatures, referencedColumns } from "./transform.js";
import { validateRecords } from "./validate.js";
import { BundleError, type ColumnSpec, type FeatureExpr, type MldeploySection } from "./types.js";

/**
 * The most of MLmodel that is read. A real one is a few KiB; 4 MiB holds a signature of some
 * 30,000 columns, written twice (signature and mldeploy.inputs), and stops a link to an endless
 * or huge file long before it costs memory.
 */
export const MAX_MLMODEL_BYTES = 4 * 1024 * 1024;

export interface Signature {
  inputs: ColumnSpec[];
  outputs: ColumnSpec[];
}

export interface SaveBundleOptions {
  onnx: Uint8Array;
  /** MLflow signature: the ONNX graph's own inputs and outputs. */
  signature: Signature;
  /** Request schema, feature transform and training facts. */
  mldeploy?: MldeploySection;
  /** Example request records (mldeploy.inputs columns). */
  inputExample: Record<string, unknown>[];
  runId?: string;
  /**
   * Compile mldeploy.features into the graph, so that it takes the request's columns (default
   * true). false writes the feature map beside the graph, as bundles before did.
   */
  inlineFeatures?: boolean;
}

export interface SavedBundle {
  uuid: string;
  /** The graph takes the request's own columns (no feature map left in mldeploy). */
  selfContained: boolean;
  /** Why the feature map stayed outside the graph, when it did. */
  featuresOutside?: string;
}

/** A bundle read from disk and checked for consistency (the ONNX graph is checked on load). */
export interface Bundle {
  path: string;
  /** The real path of the ONNX file (links resolved, checked to lie inside the bundle). */
  onnxPath: string;
  /** The ONNX file as MLmodel names it (flavors.onnx.data). */
  onnxFile: string;
  uuid: string;
  runId?: string;
  createdAt?: string;
  signature?: Signature;
  mldeploy?: MldeploySection;
  mlmodel: Record<string, unknown>;
}

/**
 * Writes an MLflow model directory as `mlflow.onnx.save_model` does (see mlflow-files.ts): the
 * examples and model.onnx, then MLmodel (model_size_bytes counts what is there by then), then
 * conda.yaml, python_env.yaml and requirements.txt. The feature map is compiled into the graph
 * where it can be (inline-features.ts), so the signature and the examples are the request's
 * columns; mldeploy's extras (request bounds, output, provenance) live in the `mldeploy` section.
 */
export async function saveBundle(dir: string, options: SaveBundleOptions): Promise<SavedBundle> {
  const uuid = randomUUID().replaceAll("-", "");
  let mldeploy = options.mldeploy
    ? { ...options.mldeploy, input_example: options.mldeploy.input_example ?? options.inputExample }
    : undefined;
  if (mldeploy) checkMldeploySection(dir, mldeploy, options.signature);
  let onnx = options.onnx;
  let signature = options.signature;
  let featuresOutside: string | undefined;
  if (mldeploy?.features && options.inlineFeatures !== false) {
    const inlined = isIdentity(mldeploy.features, signature, mldeploy.inputs)
      ? undefined
      : inlineFeatures(onnx, mldeploy.inputs, mldeploy.features);
    if (inlined?.ok === false) featuresOutside = inlined.reason;
    else {
      if (inlined) onnx = inlined.onnx;
      signature = {
        inputs: mldeploy.inputs.map(({ name, type }) => ({ name, type })),
        outputs: signature.outputs,
      };
      const { features: _compiled, ...rest } = mldeploy;
      mldeploy = rest;
    }
  }
  await mkdir(dir, { recursive: true });

  // MLflow's input example is what its pyfunc is fed: the request's columns once the features
  // are in the graph, the graph's own inputs (the request run through the map) otherwise.
  for (const [file, text] of Object.entries(
    exampleFiles(modelInputExample(options, signature, mldeploy)),
  )) {
    await writeFile(path.join(dir, file), text);
  }
  await writeFile(path.join(dir, MODEL_FILE), onnx);
  const modelSizeBytes = await totalFileSize(dir);

  // Model.to_dict(): keys sorted by yaml.safe_dump; artifact_path and run_id only for a model
  // logged to a run (log_model), as MLflow writes them.
  const mlmodel: Record<string, unknown> = {
    ...(options.runId ? { artifact_path: "model" } : {}),
    flavors: flavors(),
    mlflow_version: MLFLOW_VERSION,
    model_size_bytes: modelSizeBytes,
    model_uuid: uuid,
    ...(options.runId ? { run_id: options.runId } : {}),
    saved_input_example_info: savedInputExampleInfo(),
    signature: {
      inputs: formatSignatureSide(signature.inputs),
      outputs: formatSignatureSide(signature.outputs),
      params: null,
    },
    utc_time_created: utcTimeCreated(),
    ...(mldeploy ? { mldeploy } : {}),
  };
  await writeFile(path.join(dir, "MLmodel"), pythonYaml(mlmodel));
  for (const [file, text] of Object.entries(environmentFiles())) {
    await writeFile(path.join(dir, file), text);
  }
  return {
    uuid,
    selfContained: mldeploy?.features === undefined,
    ...(featuresOutside ? { featuresOutside } : {}),
  };
}

/** Every graph input is the request column of its name and type already: nothing to compile. */
function isIdentity(
  features: Record<string, FeatureExpr>,
  signature: Signature,
  inputs: ColumnSpec[],
): boolean {
  if (signature.inputs.length !== inputs.length) return false;
  return signature.inputs.every((input) => {
    const expr = features[input.name];
    const column = inputs.find((c) => c.name === input.name);
    return expr && "column" in expr && expr.column === input.name && column?.type === input.type;
  });
}

function modelInputExample(
  options: SaveBundleOptions,
  signature: Signature,
  mldeploy: MldeploySection | undefined,
): SplitExample {
  if (!mldeploy?.features) {
    const columns = signature.inputs.map((s) => s.name);
    return { columns, data: options.inputExample.map((r) => columns.map((c) => r[c])) };
  }
  const { batch, errors } = validateRecords(options.inputExample, mldeploy.inputs);
  if (errors.length) {
    throw new Error(
      `input example row ${errors[0].row}: field "${errors[0].field}" ${errors[0].message}`,
    );
  }
  const features = applyFeatures(batch, mldeploy.features);
  const columns = Object.keys(features);
  const data: unknown[][] = [];
  for (let row = 0; row < batch.rows; row++) data.push(columns.map((c) => features[c][row]));
  return { columns, data };
}

/** Reads and checks a bundle directory; every problem is a BundleError naming the file and field. */
export async function readBundle(dir: string): Promise<Bundle> {
  const bundlePath = path.resolve(dir);
  const dirStat = await stat(bundlePath).catch(() => undefined);
  if (!dirStat) throw new BundleError(bundlePath, "directory does not exist");
  if (!dirStat.isDirectory())
    throw new BundleError(bundlePath, "is not a directory (a bundle is a folder holding MLmodel)");

  // Files are checked against the directory's real path: a bundle reached through a link (the
  // registry cache's) is fine, a file linked out of it is not.
  const root = await bundleRoot(bundlePath).catch((error: unknown) => {
    throw new BundleError(bundlePath, `cannot be read: ${(error as Error).message}`);
  });
  const mlmodelFile = await checkedFile(bundlePath, root, "MLmodel");
  if (!mlmodelFile) throw new BundleError(bundlePath, "MLmodel file is missing");
  const text = (
    await readBundleFile(mlmodelFile.realPath, MAX_MLMODEL_BYTES).catch(
      unsafe(bundlePath, "MLmodel"),
    )
  ).toString("utf8");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : "";
    throw new BundleError(
      bundlePath,
      `MLmodel is not valid YAML${where}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new BundleError(bundlePath, "MLmodel must be a YAML mapping");
  }
  const mlmodel = doc as Record<string, unknown>;

  const flavors = asRecord(mlmodel.flavors);
  const onnxFlavor = asRecord(flavors?.onnx);
  if (!onnxFlavor)
    throw new BundleError(
      bundlePath,
      "MLmodel has no flavors.onnx section (only ONNX models are served)",
    );
  const dataFile = typeof onnxFlavor.data === "string" ? onnxFlavor.data : MODEL_FILE;
  const onnx = await checkedFile(bundlePath, root, dataFile, "flavors.onnx.data");
  if (!onnx) throw new BundleError(bundlePath, `${dataFile} (flavors.onnx.data) is missing`);

  let signature: Signature | undefined;
  const rawSignature = asRecord(mlmodel.signature);
  if (rawSignature) {
    try {
      signature = {
        inputs: parseSignatureSide(rawSignature.inputs, "inputs"),
        outputs:
          rawSignature.outputs == null ? [] : parseSignatureSide(rawSignature.outputs, "outputs"),
      };
    } catch (error) {
      throw new BundleError(bundlePath, `MLmodel ${(error as Error).message}`);
    }
  }

  let mldeploy: MldeploySection | undefined;
  if (mlmodel.mldeploy !== undefined) {
    const parsed = mldeploySectionSchema.safeParse(mlmodel.mldeploy);
    if (!parsed.success)
      throw new BundleError(bundlePath, `MLmodel mldeploy.${formatZodIssues(parsed.error)}`);
    mldeploy = parsed.data;
    checkMldeploySection(bundlePath, mldeploy, signature);
  }

  return {
    path: bundlePath,
    onnxPath: onnx.realPath,
    onnxFile: dataFile,
    uuid: typeof mlmodel.model_uuid === "string" ? mlmodel.model_uuid : "",
    runId: typeof mlmodel.run_id === "string" ? mlmodel.run_id : undefined,
    createdAt: typeof mlmodel.utc_time_created === "string" ? mlmodel.utc_time_created : undefined,
    signature,
    mldeploy,
    mlmodel,
  };
}

/**
 * What registering a model reads of it: for an ONNX bundle, the whole bundle checked (as
 * readBundle); for another MLflow model directory (an `mlflow.sklearn` or `mlflow.xgboost`
 * model, converted when it is loaded), only MLmodel's signature; for a plain model file
 * (a pickle), nothing. Files are read with the bundle's rules either way.
 */
export async function readRegistrableModel(
  location: string,
): Promise<{ onnx: boolean; signature?: Signature }> {
  const resolved = path.resolve(location);
  if (!(await stat(resolved).catch(() => undefined))?.isDirectory()) return { onnx: false };
  const root = await bundleRoot(resolved);
  const file = await checkedFile(resolved, root, "MLmodel");
  if (!file) return { onnx: false };
  const text = (
    await readBundleFile(file.realPath, MAX_MLMODEL_BYTES).catch(unsafe(resolved, "MLmodel"))
  ).toString("utf8");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    // readBundle names the line and the problem.
    await readBundle(resolved);
  }
  const mlmodel = asRecord(doc);
  if (asRecord(asRecord(mlmodel?.flavors)?.onnx)) {
    const bundle = await readBundle(resolved);
    return { onnx: true, signature: bundle.signature };
  }
  const rawSignature = asRecord(mlmodel?.signature);
  if (!rawSignature) return { onnx: false };
  try {
    return {
      onnx: false,
      signature: {
        inputs: parseSignatureSide(rawSignature.inputs, "inputs"),
        outputs:
          rawSignature.outputs == null ? [] : parseSignatureSide(rawSignature.outputs, "outputs"),
      },
    };
  } catch {
    // A tensor signature without column names: nothing to show before the model is loaded.
    return { onnx: false };
  }
}

/** The feature map must only read request columns and must produce exactly the signature's inputs. */
function checkMldeploySection(
  bundlePath: string,
  section: MldeploySection,
  signature: Signature | undefined,
): void {
  if (section.probabilities !== undefined && section.classes === undefined) {
    throw new BundleError(
      bundlePath,
      `mldeploy.probabilities names "${section.probabilities}" but mldeploy.classes is missing (the classes of its columns)`,
    );
  }
  if (
    section.classes !== undefined &&
    (section.probabilities ?? "probabilities") === section.output
  ) {
    throw new BundleError(
      bundlePath,
      `mldeploy.output "${section.output}" is the probability output: the primary output of a classifier is its label`,
    );
  }
  const requestColumns = new Set(section.inputs.map((c) => c.name));
  const features = section.features;
  for (const column of features ? referencedColumns(features) : []) {
    if (!requestColumns.has(column)) {
      throw new BundleError(
        bundlePath,
        `mldeploy.features refers to "${column}", which is not in mldeploy.inputs`,
      );
    }
  }
  if (!signature) return;
  // Without a feature map the graph takes the request's columns: the signature names them.
  const featureNames = new Set(features ? Object.keys(features) : requestColumns);
  const what = features ? "has no entry in mldeploy.features" : "is not in mldeploy.inputs";
  for (const input of signature.inputs) {
    if (!featureNames.has(input.name)) {
      throw new BundleError(
        bundlePath,
        `signature mismatch: signature input "${input.name}" ${what}`,
      );
    }
  }
  for (const name of featureNames) {
    if (!signature.inputs.some((input) => input.name === name)) {
      throw new BundleError(
        bundlePath,
        features
          ? `signature mismatch: mldeploy.features.${name} is not a signature input`
          : `signature mismatch: mldeploy.inputs column "${name}" is not a signature input`,
      );
    }
  }
  if (signature.outputs.length && !signature.outputs.some((o) => o.name === section.output)) {
    throw new BundleError(
      bundlePath,
      `signature mismatch: mldeploy.output "${section.output}" is not a signature output`,
    );
  }
}

/**
 * A bundle file resolved safely (see bundle-files.ts): undefined when absent, a BundleError
 * naming the file (and the MLmodel key naming it) when it leads outside the bundle or is no
 * regular file.
 */
async function checkedFile(
  bundlePath: string,
  root: string,
  relative: string,
  key?: string,
): Promise<BundleFile | undefined> {
  return resolveBundleFile(root, relative).catch(unsafe(bundlePath, relative, key));
}

function unsafe(bundlePath: string, relative: string, key?: string): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof UnsafeBundleFile)) throw error;
    throw new BundleError(bundlePath, `${relative}${key ? ` (${key})` : ""} ${error.message}`);
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
