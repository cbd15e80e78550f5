import path from "node:path";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { trainModel, type TrainResult } from "../../src/train/train.js";
import { tempDir } from "./temp.js";

let pending: Promise<TrainResult & { dataDir: string }> | undefined;

/**
 * Trains a real ride-duration model on two small synthetic months, once per test file (each
 * file runs in its own process), into a fresh temp dir so that a stale model from an older
 * build can never be picked up.
 */
export function rideModel(): Promise<TrainResult & { dataDir: string }> {
  pending ??= (async () => {
    const dataDir = tempDir("mldeploy-rides-");
    const trainPath = path.join(dataDir, "green_tripdata_2021-01.parquet");
    const validPath = path.join(dataDir, "green_tripdata_2021-02.parquet");
    await writeSampleTrips({ path: trainPath, seed: 1, year: 2021, month: 1, rows: 20_000 });
    await writeSampleTrips({ path: validPath, seed: 2, year: 2021, month: 2, rows: 10_000 });
    const result = await trainModel({
      trainPath,
      validPath,
      outDir: path.join(dataDir, "ride-duration"),
    });
    return { ...result, dataDir };
  })();
  return pending;
}

/** Path of a trained ride-duration bundle (see rideModel). */
export async function rideBundlePath(): Promise<string> {
  return (await rideModel()).bundlePath;
}
