import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { VERSION } from "../version.js";
import type { PyValue } from "./pickle/values.js";
import type { ModelSource, SourceFormat } from "./source.js";
import { ImportError, type ConvertedModel } from "./types.js";

/**
 * The one entry from a detected source to a ConvertedModel: reads the file, hashes it, and
 * hands it to the reader and converter of its kind (the safe pickle reader with the sklearn
 * allow-list, then the sklearn converter; or the XGBoost converter). Nothing here runs Python
 * or anything a pickle names.
 */

/** Where the model came from and what was made of it: the `mldeploy` section records it. */
export interface ImportProvenance {
  source: {
    /** The model file's name (inside an MLflow directory: relative to it). */
    file: string;
    sha256: string;
    bytes: number;
    format: SourceFormat;
    /** The location as the user gave it (a path, runs:/, models:/, s3://), when known. */
    uri?: string;
  };
  importer: {
    estimator: string;
    library?: { name: string; version?: string };
    kind: "regressor" | "classifier";
    mldeploy: string;
  };
}

export interface ImportOptions {
  /** The location as the user gave it, recorded in provenance. */
  uri?: string;
  /** Called while a large file is read: bytes so far, total. */
  onProgress?: (done: number, total: number) => void;
}

export type ImportableSource = Exclude<ModelSource, { kind: "bundle" }>;

/** Reads and converts one source. Errors are ImportErrors naming the file. */
export async function importModel(
  source: ImportableSource,
  options: ImportOptions = {},
): Promise<{ converted: ConvertedModel; provenance: ImportProvenance }> {
  const bytes = await readWithProgress(source.file, options.onProgress);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const converted =
    source.kind === "sklearn"
      ? await convertPickled(bytes, source)
      : await convertXgboost(bytes, source);
  const file = source.mlflow
    ? path.relative(source.mlflow.dir, source.file)
    : path.basename(source.file);
  const library =
    converted.library ??
    (source.mlflow?.libraryVersion
      ? {
          name: source.kind === "sklearn" ? "scikit-learn" : "xgboost",
          version: source.mlflow.libraryVersion,
        }
      : undefined);
  return {
    converted,
    provenance: {
      source: {
        file,
        sha256,
        bytes: bytes.byteLength,
        format: source.format,
        ...(options.uri ? { uri: options.uri } : {}),
      },
      importer: {
        estimator: converted.estimator,
        ...(library ? { library } : {}),
        kind: converted.kind,
        mldeploy: VERSION,
      },
    },
  };
}

// The readers and converters are other modules of import/ (the pickle reader, the sklearn and
// XGBoost converters), loaded when first needed so that commands which never import a model do
// not pay for them.
type PickleModule = typeof import("./pickle/read.js");
type SklearnModule = typeof import("./sklearn/convert.js");
type XgboostModule = typeof import("./xgboost/convert.js");

async function loadModule<T>(specifier: string, what: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") {
      throw new ImportError(`this build of mldeploy has no ${what}`);
    }
    throw error;
  }
}

const PICKLE_READER = "./pickle/read.js";
const SKLEARN_CONVERTER = "./sklearn/convert.js";
const XGBOOST_CONVERTER = "./xgboost/convert.js";

async function convertPickled(
  bytes: Uint8Array,
  source: Extract<ImportableSource, { kind: "sklearn" }>,
): Promise<ConvertedModel> {
  const [{ readPickle }, sklearn] = await Promise.all([
    loadModule<PickleModule>(PICKLE_READER, "pickle reader"),
    loadModule<SklearnModule>(SKLEARN_CONVERTER, "scikit-learn converter"),
  ]);
  let root: PyValue;
  try {
    root = readPickle(bytes, { allowedClasses: sklearn.SKLEARN_CLASSES, source: source.file });
  } catch (error) {
    throw unsupportedEstimator(error, source.file, sklearn.SUPPORTED_ESTIMATORS) ?? error;
  }
  return sklearn.convertSklearn(root);
}

/**
 * A refused global from scikit-learn or XGBoost is a model class mldeploy does not convert
 * (not an attack): say which, and what is supported. Any other refused global keeps the
 * reader's own message, which names it.
 */
function unsupportedEstimator(
  error: unknown,
  file: string,
  supported: readonly string[],
): ImportError | undefined {
  // RefusedGlobalError carries the global as `.module` and `.name` (COMMON contract); its
  // class is told by its constructor, since `.name` is the global's name.
  if (!(error instanceof ImportError) || error.constructor.name !== "RefusedGlobalError") {
    return undefined;
  }
  const module: unknown = Reflect.get(error, "module");
  const name: unknown = Reflect.get(error, "name");
  if (typeof module !== "string" || !/^(sklearn|xgboost)(\.|$)/.test(module)) return undefined;
  const short = typeof name === "string" && name !== "RefusedGlobalError" ? name : module;
  return new ImportError(
    `${path.basename(file)}: estimator ${short} (${module}) is not supported; supported: ${supported.join(", ")}`,
    { cause: error },
  );
}

async function convertXgboost(
  bytes: Uint8Array,
  source: Extract<ImportableSource, { kind: "xgboost" }>,
): Promise<ConvertedModel> {
  const { convertXgboostModel } = await loadModule<XgboostModule>(
    XGBOOST_CONVERTER,
    "XGBoost converter",
  );
  const featureNames = source.mlflow?.inputs?.map((column) => column.name);
  return convertXgboostModel(bytes, {
    source: path.basename(source.file),
    ...(featureNames?.length ? { featureNames } : {}),
  });
}

/** The largest model file read (a 100-tree forest of the reference use case is ~14 MB). */
const MAX_MODEL_FILE_BYTES = 2 * 1024 ** 3;

/** The whole file, reporting progress for large ones (the forest of the MLflow variant is ~100 MB). */
async function readWithProgress(
  file: string,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const total = (await stat(file)).size;
  if (total > MAX_MODEL_FILE_BYTES) {
    throw new ImportError(
      `${path.basename(file)} is ${total} bytes; mldeploy reads model files of up to 2 GiB`,
    );
  }
  const chunks: Buffer[] = [];
  let done = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    chunks.push(chunk as Buffer);
    done += (chunk as Buffer).byteLength;
    onProgress?.(done, total);
  }
  return Buffer.concat(chunks, done);
}
