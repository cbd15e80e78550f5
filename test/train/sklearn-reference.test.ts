import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { fitCategoricalLinear, predictLinear } from "../../src/train/linear.js";
import { loadTrips, type LoadedTrips } from "../../src/train/load-trips.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { makeTempDir, pythonHas, runPython, worstRelativeError } from "./helpers.js";

const HAS_SKLEARN = pythonHas("sklearn");
const NO_SKLEARN =
  "skipped: /usr/bin/python3 cannot import sklearn (run `apt-get install python3-sklearn`)";
if (!HAS_SKLEARN) console.warn(`sklearn reference tests ${NO_SKLEARN}`);

/**
 * The course's pipeline in sklearn. DictVectorizer(sparse=False) on purpose: with a sparse
 * matrix LinearRegression and Ridge switch to iterative solvers (lsqr / sparse_cg) that only
 * converge to a tolerance, while dense input goes through LAPACK (lstsq / Cholesky) and gives
 * exact answers to compare against. Dense is also why the data set here is small.
 */
const SCRIPT = `
import functools, json, sys
import scipy.linalg
# sklearn's LinearRegression solves with scipy.linalg.lstsq, whose default LAPACK driver
# (gelsd) returns fitted values off by up to 3e-3 (relative) on this rank-deficient one-hot
# design with Debian's scipy 1.10; gelsy and gelss agree with numpy.linalg.lstsq (and with
# mldeploy) to 1e-13. Same sklearn pipeline, with the accurate driver.
scipy.linalg.lstsq = functools.partial(scipy.linalg.lstsq, lapack_driver="gelsy")
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression, Ridge
data = json.load(open(sys.argv[1]))
def dicts(part):
    return [{"PU_DO": c, "trip_distance": d} for c, d in zip(part["PU_DO"], part["trip_distance"])]
dv = DictVectorizer(sparse=False)
X_train = dv.fit_transform(dicts(data["train"]))
X_valid = dv.transform(dicts(data["valid"]))
out = {}
for name, model in (("linear", LinearRegression()), ("ridge", Ridge(alpha=1.0))):
    model.fit(X_train, data["train"]["y"])
    out[name] = {"train": model.predict(X_train).tolist(), "valid": model.predict(X_valid).tolist()}
json.dump(out, open(sys.argv[2], "w"))
`;

interface Predictions {
  train: number[];
  valid: number[];
}

describe("categorical linear regression vs sklearn", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let train: LoadedTrips;
  let valid: LoadedTrips;
  let reference: Record<"linear" | "ridge", Predictions>;

  beforeAll(async () => {
    if (!HAS_SKLEARN) return;
    const temp = await makeTempDir("sklearn");
    cleanup = temp.cleanup;
    const trainFile = path.join(temp.dir, "train.parquet");
    const validFile = path.join(temp.dir, "valid.parquet");
    await writeSampleTrips({ path: trainFile, seed: 11, year: 2022, month: 1, rows: 3000 });
    await writeSampleTrips({ path: validFile, seed: 11, year: 2022, month: 2, rows: 1500 });
    train = await loadTrips(trainFile, RIDES_SPEC);
    valid = await loadTrips(validFile, RIDES_SPEC);
    const input = path.join(temp.dir, "data.json");
    const output = path.join(temp.dir, "predictions.json");
    await writeFile(
      input,
      JSON.stringify({
        train: {
          PU_DO: train.features.PU_DO,
          trip_distance: Array.from(train.features.trip_distance as Float64Array),
          y: Array.from(train.target),
        },
        valid: {
          PU_DO: valid.features.PU_DO,
          trip_distance: Array.from(valid.features.trip_distance as Float64Array),
        },
      }),
    );
    await runPython(SCRIPT, [input, output]);
    reference = JSON.parse(await readFile(output, "utf8")) as Record<
      "linear" | "ridge",
      Predictions
    >;
  }, 180_000);

  afterAll(async () => {
    await cleanup?.();
  });

  const cases = [
    { name: "linear", alpha: 0, sklearn: "LinearRegression" },
    { name: "ridge", alpha: 1, sklearn: "Ridge(alpha=1.0)" },
  ] as const;

  for (const { name, alpha, sklearn } of cases) {
    const title = `alpha=${alpha} matches DictVectorizer + ${sklearn} on train and valid rows`;
    it.skipIf(!HAS_SKLEARN)(HAS_SKLEARN ? title : `${title} — ${NO_SKLEARN}`, () => {
      const model = fitCategoricalLinear({
        categoricalFeature: "PU_DO",
        categorical: train.features.PU_DO as string[],
        numericFeatures: ["trip_distance"],
        numeric: [train.features.trip_distance as Float64Array],
        target: train.target,
        alpha,
      });
      const ours = {
        train: predictLinear(model, train.features.PU_DO as string[], [
          train.features.trip_distance as Float64Array,
        ]),
        valid: predictLinear(model, valid.features.PU_DO as string[], [
          valid.features.trip_distance as Float64Array,
        ]),
      };
      const seen = new Set(model.categories);
      const validCategories = valid.features.PU_DO as string[];
      const seenRows = validCategories.flatMap((c, i) => (seen.has(c) ? [i] : []));
      const unseenRows = validCategories.flatMap((c, i) => (seen.has(c) ? [] : [i]));
      // The data must exercise both paths for the comparison to mean anything.
      expect(model.categories.length).toBeGreaterThan(500);
      expect(seenRows.length).toBeGreaterThan(100);
      expect(unseenRows.length).toBeGreaterThan(50);

      const pick = (values: ArrayLike<number>, rows: number[]) => rows.map((i) => values[i]);
      expect(worstRelativeError(ours.train, reference[name].train).error).toBeLessThan(1e-6);
      expect(
        worstRelativeError(pick(ours.valid, seenRows), pick(reference[name].valid, seenRows)).error,
      ).toBeLessThan(1e-6);
      // Unseen categories only agree if the intercept/weight split is sklearn's (Σw = 0 for lstsq).
      expect(
        worstRelativeError(pick(ours.valid, unseenRows), pick(reference[name].valid, unseenRows))
          .error,
      ).toBeLessThan(1e-6);
    });
  }
});
