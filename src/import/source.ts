import { lstat, open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  bundleRoot,
  readBundleFile,
  resolveBundleFile,
  UnsafeBundleFile,
} from "../model/bundle-files.js";
import { MAX_MLMODEL_BYTES, readBundle } from "../model/bundle.js";
import { parseSignatureSide } from "../model/schema.js";
import { BundleError, type ColumnSpec } from "../model/types.js";
import { ImportError } from "./types.js";

/**
 * What a local path holds, decided from MLmodel and the files' first bytes (extensions only
 * break ties): an ONNX bundle (served as it is), a pickled scikit-learn model (plain pickle,
 * cloudpickle or joblib) or an XGBoost model file, either alone or inside an MLflow model
 * directory. Nothing here reads more than MLmodel and a few bytes of each file.
 */

/** How the source was stored, recorded in provenance. */
export type SourceFormat =
  | "pickle"
  | "joblib"
  | "mlflow-sklearn"
  | "mlflow-xgboost"
  | "xgboost-json"
  | "xgboost-ubj"
  | "xgboost-binary";

export type XgboostEncoding = "json" | "ubj" | "binary";

/** What an MLflow model directory says beyond the model file. */
export interface MlflowModelInfo {
  dir: string;
  /** Signature inputs, when MLflow recorded named columns. */
  inputs?: ColumnSpec[];
  /** The first named signature output (regressors answer under it by default). */
  outputName?: string;
  /** flavors.sklearn.sklearn_version / flavors.xgboost.xgb_version. */
  libraryVersion?: string;
  /** flavors.xgboost.model_class (e.g. xgboost.sklearn.XGBRegressor). */
  modelClass?: string;
  /** The MLmodel text, part of the conversion cache key (the signature shapes the bundle). */
  mlmodelText: string;
}

export type ModelSource =
  | { kind: "bundle"; dir: string }
  | { kind: "sklearn"; file: string; format: SourceFormat; mlflow?: MlflowModelInfo }
  | {
      kind: "xgboost";
      file: string;
      encoding: XgboostEncoding;
      format: SourceFormat;
      mlflow?: MlflowModelInfo;
    };

/** The forms accepted, for the one-line error about anything else. */
export const ACCEPTED_FORMS =
  "an mldeploy/MLflow ONNX bundle, an MLflow model directory (flavors sklearn or xgboost), " +
  "a pickle (.pkl/.pickle/.bin), a joblib file (.joblib), an XGBoost model (.json/.ubj/.xgb/.model/.bst), " +
  "or a directory holding exactly one of those files";

const PICKLE_EXTENSIONS = new Set([".pkl", ".pickle", ".bin", ".joblib"]);
const XGBOOST_EXTENSIONS = new Set([".json", ".ubj", ".xgb", ".model", ".bst", ".bin"]);
/** UBJSON markers that may follow an object's "{": a key's length type, or $ / # / }. */
const UBJSON_AFTER_BRACE = new Set(["i", "U", "I", "l", "L", "$", "#", "}"]);

/** Decides what `localPath` is; an ImportError names the path and the forms accepted. */
export async function detectSource(localPath: string): Promise<ModelSource> {
  const resolved = path.resolve(localPath);
  const info = await stat(resolved).catch(() => undefined);
  // As readBundle says it: most model arguments are bundles.
  if (!info) throw new BundleError(resolved, "directory does not exist");
  if (info.isFile()) {
    const file = await detectFile(resolved);
    if (!file) throw unknown(localPath, "is not a model file mldeploy can read");
    return file;
  }
  if (!info.isDirectory()) throw unknown(localPath, "is neither a file nor a directory");
  const mlmodel = path.join(resolved, "MLmodel");
  if (await lstat(mlmodel).then(Boolean, () => false)) {
    // Whatever MLmodel is (a link out of the directory, a FIFO, /dev/zero), it is read only
    // through the bundle's own safety checks; readBundle names what is wrong with it.
    const file = await resolveBundleFile(await bundleRoot(resolved), "MLmodel").catch(
      (error: unknown) => {
        if (error instanceof UnsafeBundleFile) return undefined;
        throw error;
      },
    );
    if (!file) {
      await readBundle(resolved);
      throw new BundleError(resolved, "MLmodel cannot be read");
    }
    return detectMlflowDirectory(resolved, localPath, file.realPath);
  }
  const candidates: ModelSource[] = [];
  for (const entry of await readdir(resolved, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith(".")) continue;
    const found = await detectFile(path.join(resolved, entry.name));
    if (found) candidates.push(found);
  }
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) {
    throw unknown(localPath, "has no MLmodel file and holds no model file mldeploy can read");
  }
  throw new ImportError(
    `${localPath} holds ${candidates.length} model files (${candidates
      .map((c) => path.basename((c as { file: string }).file))
      .join(", ")}); name the one to import`,
  );
}

function unknown(localPath: string, why: string): ImportError {
  return new ImportError(`${localPath} ${why}; accepted: ${ACCEPTED_FORMS}`);
}

/** A single file's kind from its first bytes and extension; undefined for anything else. */
export async function detectFile(file: string): Promise<ModelSource | undefined> {
  const head = await readHead(file, 64);
  const ext = path.extname(file).toLowerCase();
  if (head.length === 0) return undefined;
  const first = head[0];
  // Pickle protocol 2+ starts with PROTO (0x80) and the protocol number.
  if (first === 0x80 && head.length > 1 && head[1] >= 2 && head[1] <= 5) {
    return { kind: "sklearn", file, format: ext === ".joblib" ? "joblib" : "pickle" };
  }
  // joblib's zlib (0x78 …) and gzip (1f 8b) compressed pickles.
  const zlib = first === 0x78 && [0x01, 0x5e, 0x9c, 0xda].includes(head[1] ?? -1);
  const gzip = first === 0x1f && head[1] === 0x8b;
  if (zlib || gzip) return { kind: "sklearn", file, format: "joblib" };
  const xgboost = xgboostEncoding(head, ext);
  if (xgboost) {
    if (xgboost === "json" && !(await jsonLooksLikeXgboost(file))) return undefined;
    return { kind: "xgboost", file, encoding: xgboost, format: `xgboost-${xgboost}` };
  }
  // Protocols 0 and 1 have no header: trust the extension the user gave them.
  if (PICKLE_EXTENSIONS.has(ext) && ext !== ".bin") {
    return { kind: "sklearn", file, format: ext === ".joblib" ? "joblib" : "pickle" };
  }
  return undefined;
}

function xgboostEncoding(head: Buffer, ext: string): XgboostEncoding | undefined {
  let i = 0;
  while (i < head.length && /\s/.test(String.fromCharCode(head[i]))) i++;
  if (head[i] === 0x7b /* { */) {
    const next = String.fromCharCode(head[i + 1] ?? 0);
    if (i === 0 && UBJSON_AFTER_BRACE.has(next)) return "ubj";
    return "json";
  }
  // XGBoost's legacy binary format: "binf" (older writers) or the learner parameters at once.
  if (head.subarray(0, 4).toString("latin1") === "binf") return "binary";
  if (XGBOOST_EXTENSIONS.has(ext) && ext !== ".json" && ext !== ".ubj" && ext !== ".bin") {
    return "binary";
  }
  return undefined;
}

/** XGBoost's JSON model has a top-level "learner"; any other JSON document is not a model. */
async function jsonLooksLikeXgboost(file: string): Promise<boolean> {
  const head = (await readHead(file, 4096)).toString("utf8");
  return /"learner"\s*:/.test(head) || /"version"\s*:\s*\[/.test(head);
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** An MLflow model directory: which flavor, where its model file is, what its signature says. */
async function detectMlflowDirectory(
  dir: string,
  shown: string,
  mlmodelPath: string,
): Promise<ModelSource> {
  const text = (await readBundleFile(mlmodelPath, MAX_MLMODEL_BYTES)).toString("utf8");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new ImportError(
      `${shown}/MLmodel is not valid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const mlmodel = record(doc) ?? {};
  const flavors = record(mlmodel.flavors) ?? {};
  if (record(flavors.onnx)) return { kind: "bundle", dir };
  const info: MlflowModelInfo = { dir, mlmodelText: text, ...signatureOf(mlmodel) };
  const pyfunc = record(flavors.python_function);
  const loader = typeof pyfunc?.loader_module === "string" ? pyfunc.loader_module : undefined;

  const sklearn = record(flavors.sklearn);
  if (sklearn || loader === "mlflow.sklearn") {
    const format = string(sklearn?.serialization_format) ?? "pickle";
    if (format === "skops") {
      throw new ImportError(
        `${shown}: flavors.sklearn.serialization_format is "skops"; mldeploy reads pickle and ` +
          'cloudpickle (mlflow.sklearn.save_model(..., serialization_format="cloudpickle"), the default)',
      );
    }
    if (format !== "pickle" && format !== "cloudpickle") {
      throw new ImportError(
        `${shown}: flavors.sklearn.serialization_format "${format}" is not one mldeploy reads (pickle, cloudpickle)`,
      );
    }
    const relative =
      string(sklearn?.pickled_model) ??
      string(pyfunc?.model_path) ??
      string(pyfunc?.data) ??
      "model.pkl";
    const file = await modelFile(dir, relative, shown, "flavors.sklearn.pickled_model");
    info.libraryVersion = string(sklearn?.sklearn_version);
    return { kind: "sklearn", file, format: "mlflow-sklearn", mlflow: info };
  }

  const xgboost = record(flavors.xgboost);
  if (xgboost || loader === "mlflow.xgboost") {
    const relative = string(xgboost?.data) ?? string(pyfunc?.data) ?? "model.xgb";
    const file = await modelFile(dir, relative, shown, "flavors.xgboost.data");
    info.libraryVersion = string(xgboost?.xgb_version);
    info.modelClass = string(xgboost?.model_class);
    const found = await detectFile(file);
    const encoding: XgboostEncoding =
      found?.kind === "xgboost"
        ? found.encoding
        : string(xgboost?.model_format) === "json"
          ? "json"
          : string(xgboost?.model_format) === "ubj"
            ? "ubj"
            : "binary";
    return { kind: "xgboost", file, encoding, format: "mlflow-xgboost", mlflow: info };
  }

  const names = Object.keys(flavors);
  throw new ImportError(
    `${shown}: MLmodel has flavors ${names.length ? names.join(", ") : "(none)"}${
      loader ? ` (python_function loader_module ${loader})` : ""
    }; mldeploy reads flavors onnx, sklearn and xgboost`,
  );
}

async function modelFile(dir: string, relative: string, shown: string, key: string) {
  // The same rules as a bundle's files: inside the directory once links are resolved, and a
  // regular file (not a FIFO or a device that would never end).
  const file = await resolveBundleFile(await bundleRoot(dir), relative).catch((error: unknown) => {
    if (error instanceof UnsafeBundleFile) {
      throw new ImportError(`${shown}: ${relative} (${key}) ${error.message}`);
    }
    throw error;
  });
  if (!file) throw new ImportError(`${shown}: ${relative} (${key}) is missing`);
  return file.realPath;
}

function signatureOf(mlmodel: Record<string, unknown>): Partial<MlflowModelInfo> {
  const signature = record(mlmodel.signature);
  if (!signature) return {};
  const found: Partial<MlflowModelInfo> = {};
  try {
    found.inputs = parseSignatureSide(signature.inputs, "inputs");
  } catch {
    // A tensor signature without names, or types mldeploy has no column for: the graph's own
    // inputs are used instead.
  }
  try {
    if (signature.outputs != null) {
      found.outputName = parseSignatureSide(signature.outputs, "outputs")[0]?.name;
    }
  } catch {
    // As above: no usable output name.
  }
  return found;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function string(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
