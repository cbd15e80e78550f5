import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { trainModel } from "../train/train.js";
import { writeSampleTrips } from "../train/sample-data.js";

/**
 * A ride-duration bundle for the benchmark: trained once on generated sample months and kept
 * in the temp directory, so repeated runs measure the same model and skip training.
 */
export async function benchModel(): Promise<string> {
  const root = path.join(os.tmpdir(), "mldeploy-bench");
  const bundle = path.join(root, "model");
  if (existsSync(path.join(bundle, "MLmodel"))) return bundle;
  console.log(`training a ride-duration model into ${bundle} (once; later runs reuse it)…`);
  const train = await writeSampleTrips({
    path: path.join(root, "green_2021-01.parquet"),
    seed: 1,
    year: 2021,
    month: 1,
  });
  const valid = await writeSampleTrips({
    path: path.join(root, "green_2021-02.parquet"),
    seed: 2,
    year: 2021,
    month: 2,
  });
  await trainModel({
    trainPath: train.path,
    validPath: valid.path,
    outDir: bundle,
    runId: "bench",
  });
  return bundle;
}
