import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log/logger.js";
import { VERSION } from "../version.js";
import { planBundle, writeImportedBundle } from "./bundle.js";
import { importModel } from "./convert.js";
import { parseFeatureDeclarations } from "./feature-expr.js";
import { detectSource, type ModelSource } from "./source.js";
import { ImportError } from "./types.js";

/**
 * The one step every mode takes between "a model location resolved to a local path" and
 * loadPredictor: an ONNX bundle is returned as it is; a model from the Python world (a pickle,
 * joblib or XGBoost file, an MLflow sklearn/xgboost directory) is converted once into a bundle
 * in a cache directory keyed by the source's bytes, the --feature declarations and the
 * mldeploy version, so a restart (or another worker) finds it there and does not convert again.
 */

export interface ServableOptions {
  /** --feature NAME=EXPR declarations, applied when the source is converted. */
  features?: readonly string[];
  /** --output: the answer's name (default: the MLflow signature's, else "prediction"). */
  output?: string;
  /** Where converted bundles are kept. Default `./mldeploy-data/import-cache`. */
  cacheDir?: string;
  /** The location as the user gave it, recorded in the bundle's provenance. */
  uri?: string;
  logger?: Logger;
}

export const DEFAULT_IMPORT_CACHE = path.join("mldeploy-data", "import-cache");

/** The import cache under a data directory (the registry's), as the CLI places it. */
export function importCacheDir(dataDir: string): string {
  return path.resolve(dataDir, "import-cache");
}

/** The name a converted model is served under: its source's (lin_reg.bin → lin_reg). */
export function importedModelName(sourcePath: string): string {
  const base = path.basename(sourcePath);
  return base.replace(/\.[^.]+$/, "") || base;
}

/** A bundle directory for `localPath`: itself when it is one, else its cached conversion. */
export async function servableBundle(
  localPath: string,
  options: ServableOptions = {},
): Promise<string> {
  const source = await detectSource(localPath);
  if (source.kind === "bundle") {
    if (options.features?.length) {
      throw new ImportError(
        `--feature applies to models imported from Python; ${localPath} is an ONNX bundle, whose features are in its MLmodel`,
      );
    }
    return source.dir;
  }
  const declarations = parseFeatureDeclarations(options.features ?? []);
  const cacheDir = path.resolve(options.cacheDir ?? DEFAULT_IMPORT_CACHE);
  const key = await cacheKey(source, options);
  const dir = path.join(cacheDir, key);
  if (await isBundle(dir)) {
    options.logger?.debug({ source: localPath, bundle: dir }, "imported model found in cache");
    return dir;
  }
  const started = performance.now();
  const { converted, provenance } = await importModel(source, { uri: options.uri ?? localPath });
  const plan = planBundle(converted, {
    features: declarations,
    output: options.output,
    defaultOutput: source.mlflow?.outputName,
  });
  await mkdir(cacheDir, { recursive: true });
  // Written beside its final name and renamed into place: a crash leaves a temp directory,
  // never half a bundle under the key, and two processes converting at once both succeed.
  const staging = await mkdtemp(path.join(cacheDir, `.${key}-`));
  try {
    await writeImportedBundle(staging, plan, {
      ...provenance,
      declaredFeatures: declarations.map((d) => d.text),
    });
    await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
      // Another process converted the same source meanwhile; theirs is identical.
      await rm(staging, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  options.logger?.info(
    {
      source: localPath,
      format: provenance.source.format,
      estimator: converted.estimator,
      sha256: provenance.source.sha256,
      ms: Math.round(performance.now() - started),
      bundle: dir,
    },
    `converted ${provenance.source.format} model (${converted.estimator}) to ONNX`,
  );
  return dir;
}

/** SHA-256 of the model file, MLmodel, the declarations, --output and the mldeploy version. */
async function cacheKey(
  source: Exclude<ModelSource, { kind: "bundle" }>,
  options: ServableOptions,
): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(source.file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  hash.update("\0mlmodel\0").update(source.mlflow?.mlmodelText ?? "");
  hash.update("\0features\0").update(JSON.stringify(options.features ?? []));
  hash.update("\0output\0").update(options.output ?? "");
  hash.update("\0mldeploy\0").update(VERSION);
  return hash.digest("hex").slice(0, 32);
}

async function isBundle(dir: string): Promise<boolean> {
  return stat(path.join(dir, "MLmodel")).then(
    (s) => s.isFile(),
    () => false,
  );
}
