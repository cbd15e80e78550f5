import path from "node:path";
import { importToBundle } from "../import/import-bundle.js";
import { ORIGINAL_MODELS_ROOT, originalModels, type OriginalModels } from "./original-service.js";

/**
 * The MLflow variant's RandomForest pipeline as the benchmarks use it: the declaration of the
 * feature its Python service built by hand, and the answer's name the original service gave.
 */
export const FOREST_FEATURES = ['PU_DO=PULocationID + "_" + DOLocationID'];
export const FOREST_OUTPUT = "duration";

/** The benchmarks' working directory (the temp directory, kept between runs). */
export const BENCH_ROOT = path.dirname(ORIGINAL_MODELS_ROOT);

/**
 * The forest converted into an ONNX bundle at `dir/forest-bundle` by `mldeploy import`'s own
 * library call. Converted afresh by each benchmark run (a few seconds), never reused from an
 * earlier one: a bundle from an older build of the converter would be measured otherwise. The
 * Python side (training) is done once and kept, see originalModels.
 */
export async function forestBundle(
  dir: string,
  models?: OriginalModels,
): Promise<{ bundle: string; models: OriginalModels; seconds: number }> {
  const originals = models ?? (await originalModels(ORIGINAL_MODELS_ROOT));
  const bundle = path.join(dir, "forest-bundle");
  const started = performance.now();
  await importToBundle(originals.forestDir, {
    out: bundle,
    features: FOREST_FEATURES,
    output: FOREST_OUTPUT,
  });
  return { bundle, models: originals, seconds: (performance.now() - started) / 1000 };
}
