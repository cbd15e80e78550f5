import { rename, rm, writeFile } from "node:fs/promises";
import { RIDES_SPEC } from "../rides/index.js";
import { loadTrips } from "../train/load-trips.js";
import { writeSampleTrips } from "../train/sample-data.js";

/**
 * The sample rides as one JSON object of columns — PULocationID, DOLocationID, trip_distance
 * and duration (minutes; rides of 1–60 minutes only, as the reference use case trains on) —
 * for Python scripts to json.load: the original service's training script (benchmark) and the
 * reference fixtures (tests) see exactly the rows mldeploy sees.
 */
export async function writeRidesJson(file: string, rows: number, seed: number): Promise<string> {
  const parquet = `${file}.${process.pid}.parquet`;
  await writeSampleTrips({ path: parquet, seed, year: 2021, month: 1, rows });
  try {
    const trips = await loadTrips(parquet, RIDES_SPEC);
    const column = (name: string) => Array.from(trips.inputs.columns[name] as ArrayLike<number>);
    const json = JSON.stringify({
      PULocationID: column("PULocationID"),
      DOLocationID: column("DOLocationID"),
      trip_distance: column("trip_distance"),
      duration: Array.from(trips.target),
    });
    const staging = `${file}.${process.pid}`;
    await writeFile(staging, json);
    await rename(staging, file);
    return file;
  } finally {
    await rm(parquet, { force: true });
  }
}
