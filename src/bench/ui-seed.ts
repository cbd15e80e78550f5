import path from "node:path";
import type { MetricInput } from "../registry/store/types.js";
import { ActiveRun, Registry } from "../registry/registry.js";
import { RIDES_SPEC } from "../rides/index.js";
import { fitCategoricalLinear, predictLinear, rmse } from "../train/linear.js";
import { loadTrips, type LoadedTrips } from "../train/load-trips.js";
import { writeSampleTrips } from "../train/sample-data.js";
import { trainModel } from "../train/train.js";

/** What the screenshots script opens: ids the seeded registry gave its entities. */
export interface SeededRegistry {
  experimentId: string;
  /** Every run, best (lowest valid_rmse) first. */
  runIds: string[];
  modelName: string;
}

export interface SeedOptions {
  dataDir: string;
  /** Generated trips per month (two months: train and validation). */
  rows: number;
  /** Points of each metric's history (a learning curve: step k fits on k/steps of the rows). */
  steps: number;
  /**
   * Which runs become versions of the model. "two" (the default): the second best as version 1
   * (@staging) and the best as version 2 (@production). "second-best": only the second best, as
   * version 1 with @production on it, so that the best is left to register and promote (the
   * end-to-end browser test does both through the pages).
   */
  register?: "two" | "second-best";
}

const EXPERIMENT = "nyc-taxi";
const MODEL = "ride-duration";
/** One run per L2 strength, as a small hyper-parameter sweep. */
const ALPHAS = [0, 1, 10, 100];
/** Replayed wall-clock time of one step of a run, and between two runs. */
const STEP_MS = 1000;
const PAUSE_MS = 90_000;

/**
 * Fills a registry in `dataDir` the way a user's would be: generated taxi months, a sweep of
 * ridge models trained by the library (each run with params, final metrics, a learning-curve
 * history per metric and its model bundle), the two best registered as versions 1 and 2 of
 * `ride-duration`, and @production on the best.
 */
export async function seedRegistry(options: SeedOptions): Promise<SeededRegistry> {
  const months = ["2021-01", "2021-02"].map((month) =>
    path.join(options.dataDir, "data", `green_tripdata_${month}.parquet`),
  );
  for (const [index, file] of months.entries()) {
    await writeSampleTrips({
      path: file,
      seed: 1,
      year: 2021,
      month: index + 1,
      rows: options.rows,
    });
  }
  const [trainPath, validPath] = months;
  const [train, valid] = await Promise.all(months.map((file) => loadTrips(file, RIDES_SPEC)));

  const registry = await Registry.open({ dataDir: options.dataDir });
  try {
    const runs: { id: string; validRmse: number; modelUri: string }[] = [];
    const experiment = await registry.experiment(EXPERIMENT);
    // The sweep is replayed as if each step of a run took a second and the runs ran one after
    // another, ending now: durations and the charts' time axis read as a real afternoon's work.
    const runMs = (options.steps + 1) * STEP_MS;
    let startTime = Date.now() - ALPHAS.length * (runMs + PAUSE_MS);
    for (const alpha of ALPHAS) {
      const run = new ActiveRun(
        registry,
        await registry.store.createRun({
          experimentId: experiment.id,
          name: `ridge-alpha-${alpha}`,
          tags: { "mlflow.source.name": "mldeploy ui:screenshots", model: "ridge" },
          startTime,
        }),
      );
      await run.logParams({
        alpha,
        // As typed in the data directory (the temp path would only make the tables wide).
        train: path.relative(options.dataDir, trainPath),
        valid: path.relative(options.dataDir, validPath),
        features: "PU_DO,trip_distance",
      });
      await run.logMetrics(learningCurve(train, valid, alpha, options.steps, startTime));
      const result = await trainModel({
        trainPath,
        validPath,
        alpha,
        outDir: path.join(options.dataDir, "bundles", `alpha-${alpha}`),
        runId: run.id,
      });
      const { train_rmse, valid_rmse, train_rows, valid_rows, categories } = result.metrics;
      // The final values at the step after the curve's last one, as a fit on every row.
      const endTime = startTime + runMs;
      await run.logMetrics(
        Object.entries({ train_rmse, valid_rmse, train_rows, valid_rows, categories }).map(
          ([key, value]) => ({ key, value, step: options.steps, timestamp: endTime }),
        ),
      );
      const modelUri = await run.logArtifacts(result.bundlePath, "model");
      await registry.store.endRun(run.id, "FINISHED", endTime);
      startTime = endTime + PAUSE_MS;
      runs.push({ id: run.id, validRmse: valid_rmse, modelUri });
    }
    runs.sort((a, b) => a.validRmse - b.validRmse);

    await registry.store.createRegisteredModel(
      MODEL,
      "Minutes a NYC green-taxi ride takes, from its pickup and drop-off zones and distance",
    );
    // Registered second-best first, so that the best is version 2 and @production moves to it.
    const versions = [];
    const candidates = options.register === "second-best" ? [runs[1]] : [runs[1], runs[0]];
    for (const candidate of candidates) {
      versions.push(
        await registry.registerModel(MODEL, candidate.modelUri, {
          runId: candidate.id,
          description: `ridge model, valid RMSE ${candidate.validRmse.toFixed(3)} min`,
        }),
      );
    }
    if (versions.length === 1) {
      await registry.setAlias(MODEL, "production", versions[0].version);
    } else {
      await registry.setAlias(MODEL, "staging", versions[0].version);
      await registry.setAlias(MODEL, "production", versions[1].version);
    }
    return { experimentId: experiment.id, runIds: runs.map((run) => run.id), modelName: MODEL };
  } finally {
    await registry.close();
  }
}

/**
 * train_rmse and valid_rmse of the model fitted on the first k/steps of the training rows, for
 * k = 1 … steps (step k-1): a learning curve, real numbers of the library's own trainer.
 */
function learningCurve(
  train: LoadedTrips,
  valid: LoadedTrips,
  alpha: number,
  steps: number,
  start: number,
): MetricInput[] {
  const split = splitColumns(train);
  const validSplit = splitColumns(valid);
  const metrics: MetricInput[] = [];
  for (let k = 1; k <= steps; k++) {
    const rows = Math.max(50, Math.round((train.rows * k) / steps));
    const model = fitCategoricalLinear({
      categoricalFeature: split.categoricalName,
      categorical: split.categorical.slice(0, rows),
      numericFeatures: split.numericNames,
      numeric: split.numeric.map((column) => column.subarray(0, rows)),
      target: train.target.subarray(0, rows),
      alpha,
    });
    const trainRmse = rmse(
      train.target.subarray(0, rows),
      predictLinear(
        model,
        split.categorical.slice(0, rows),
        split.numeric.map((column) => column.subarray(0, rows)),
      ),
    );
    const validRmse = rmse(
      valid.target,
      predictLinear(model, validSplit.categorical, validSplit.numeric),
    );
    const timestamp = start + k * STEP_MS;
    metrics.push(
      { key: "train_rmse", value: trainRmse, step: k - 1, timestamp },
      { key: "valid_rmse", value: validRmse, step: k - 1, timestamp },
      { key: "train_rows_used", value: rows, step: k - 1, timestamp },
    );
  }
  return metrics;
}

/** The one string feature (PU_DO) and the numeric ones (trip_distance) of loaded trips. */
function splitColumns(data: LoadedTrips) {
  const entries = Object.entries(data.features);
  const strings = entries.filter(([, column]) => !(column instanceof Float64Array));
  const numbers = entries.filter(
    (entry): entry is [string, Float64Array] => entry[1] instanceof Float64Array,
  );
  if (strings.length !== 1) throw new Error(`expected one string feature, got ${strings.length}`);
  return {
    categoricalName: strings[0][0],
    categorical: strings[0][1] as string[],
    numericNames: numbers.map(([name]) => name),
    numeric: numbers.map(([, column]) => column),
  };
}
