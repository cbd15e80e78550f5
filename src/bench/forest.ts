import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
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
 * The forest converted by `mldeploy import`'s own library call into an ONNX bundle, once: later
 * runs reuse it (the source is trained once too, see originalModels).
 */
export async function forestBundle(
  models?: OriginalModels,
): Promise<{ bundle: string; models: OriginalModels }> {
  const originals = models ?? (await originalModels(ORIGINAL_MODELS_ROOT));
  const bundle = path.join(BENCH_ROOT, "forest-bundle");
  if (existsSync(path.join(bundle, "MLmodel"))) return { bundle, models: originals };
  console.log(`importing the RandomForest pipeline into ${bundle} (once)…`);
  await mkdir(BENCH_ROOT, { recursive: true });
  // Written aside and renamed: an interrupted run never leaves half a bundle to be reused.
  const staging = await mkdtemp(path.join(BENCH_ROOT, ".forest-bundle-"));
  try {
    const out = path.join(staging, "bundle");
    await importToBundle(originals.forestDir, {
      out,
      features: FOREST_FEATURES,
      output: FOREST_OUTPUT,
    });
    await rename(out, bundle);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { bundle, models: originals };
}
