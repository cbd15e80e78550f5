import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { MicroBatcher } from "../../src/model/micro-batcher.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { BundleError, type Predictor } from "../../src/model/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  INT_CLASSES,
  LABEL,
  TEXT_CLASSES,
  expectedFor,
  intLabel,
  saveClassifierBundle,
  textLabel,
} from "./classifier-bundles.js";

/**
 * Classifiers as imported scikit-learn / XGBoost ones are: the Predictor gives the label in its
 * own type (text labels stay strings, as MLflow's pyfunc returns them) and the class
 * probabilities only when asked for.
 */

const dir = tempDir("mldeploy-classifier-");
let text: Predictor;
let int: Predictor;

beforeAll(async () => {
  text = await loadPredictor(await saveClassifierBundle(dir, "string"));
  int = await loadPredictor(await saveClassifierBundle(dir, "int64"));
});
afterAll(async () => {
  await text?.close();
  await int?.close();
});

const distances = CLASS_RIDES.map((ride) => ride.trip_distance);

function expectProbabilities(table: Float64Array | undefined, rides = distances): void {
  expect(table).toBeInstanceOf(Float64Array);
  expect(table!.length).toBe(rides.length * 2);
  rides.forEach((distance, row) => {
    const [first, second] = expectedFor(distance).probabilities;
    expect(table![row * 2]).toBeCloseTo(first, 12);
    expect(table![row * 2 + 1]).toBeCloseTo(second, 12);
  });
}

describe("a classifier with text labels", () => {
  it("describes its label, its type and its probability output with the classes", () => {
    expect(text.info.output).toBe(LABEL);
    expect(text.info.outputType).toBe("string");
    expect(text.info.probabilities).toEqual({ name: "probabilities", classes: TEXT_CLASSES });
    expect(text.info.outputs).toEqual([{ name: LABEL, type: "string", required: true }]);
  });

  it("predicts the labels as strings, without probabilities unless asked", async () => {
    const result = await text.predictRecords(CLASS_RIDES);
    expect(result.rows).toBe(CLASS_RIDES.length);
    expect(Array.isArray(result.values)).toBe(true);
    expect(result.values).toEqual(distances.map(textLabel));
    // Both sides of the threshold are in the sample.
    expect(new Set(result.values as string[])).toEqual(new Set(TEXT_CLASSES));
    expect(result.probabilities).toBeUndefined();
  });

  it("adds the probabilities, rows × classes in the classes' order, when asked", async () => {
    const result = await text.predictRecords(CLASS_RIDES, { probabilities: true });
    expect(result.values).toEqual(distances.map(textLabel));
    expectProbabilities(result.probabilities);
  });

  it("answers an empty batch with empty columns of the right types", async () => {
    const result = await text.predictColumns({ rows: 0, columns: {} }, { probabilities: true });
    expect(result.values).toEqual([]);
    expect(result.probabilities).toEqual(new Float64Array(0));
  });
});

describe("a classifier with integer labels", () => {
  it("gives the class labels (not their column index) as numbers", async () => {
    expect(int.info.outputType).toBe("long");
    expect(int.info.probabilities?.classes).toEqual(INT_CLASSES);
    const result = await int.predictRecords(CLASS_RIDES, { probabilities: true });
    expect(result.values).toBeInstanceOf(Float64Array);
    expect(Array.from(result.values as Float64Array)).toEqual(distances.map(intLabel));
    expectProbabilities(result.probabilities);
  });
});

describe("a regressor", () => {
  it("keeps its info and its numbers as before: no label type, no probabilities", async () => {
    const regressor = await loadPredictor(await rideBundlePath());
    try {
      expect(regressor.info.outputType).toBeUndefined();
      expect(regressor.info.probabilities).toBeUndefined();
      const result = await regressor.predictRecords(CLASS_RIDES, { probabilities: true });
      expect(result.values).toBeInstanceOf(Float64Array);
      expect(result.probabilities).toBeUndefined();
      expect(Object.keys(result)).toEqual(["rows", "values"]);
    } finally {
      await regressor.close();
    }
  });
});

describe("the micro-batcher", () => {
  it("runs calls with and without probabilities together, each getting what it asked for", async () => {
    const batcher = new MicroBatcher(text, { maxBatchSize: 100, maxDelayMs: 5 });
    try {
      const split = [CLASS_RIDES.slice(0, 2), CLASS_RIDES.slice(2, 3), CLASS_RIDES.slice(3)];
      const answers = await Promise.all(
        split.map((rides, i) => batcher.predictRecords(rides, { probabilities: i !== 1 })),
      );
      split.forEach((rides, i) => {
        const own = rides.map((ride) => ride.trip_distance);
        expect(answers[i].values).toEqual(own.map(textLabel));
        if (i === 1) expect(answers[i].probabilities).toBeUndefined();
        else expectProbabilities(answers[i].probabilities, own);
      });
      const none = await batcher.predictColumns({ rows: 0, columns: {} });
      expect(none.values).toEqual([]);
    } finally {
      await batcher.drain();
    }
  });
});

describe("bundle checks", () => {
  /** A copy of the text classifier's bundle with its mldeploy section edited. */
  async function edited(change: (section: Record<string, unknown>) => void): Promise<string> {
    const bundle = await saveClassifierBundle(tempDir("mldeploy-classifier-bad-"), "string");
    const file = path.join(bundle, "MLmodel");
    const mlmodel = parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
    change(mlmodel.mldeploy as Record<string, unknown>);
    writeFileSync(file, stringifyYaml(mlmodel));
    return bundle;
  }

  it("refuses classes that do not match the probability columns, naming both", async () => {
    const bundle = await edited((section) => (section.classes = ["long", "medium", "short"]));
    await expect(loadPredictor(bundle)).rejects.toThrow(BundleError);
    await expect(loadPredictor(bundle)).rejects.toThrow(
      /"probabilities" has 2 columns but mldeploy.classes lists 3 classes/,
    );
  });

  it("refuses a probability output the graph does not have", async () => {
    const bundle = await edited((section) => (section.probabilities = "proba"));
    await expect(loadPredictor(bundle)).rejects.toThrow(/no output "proba"/);
  });

  it("refuses classes of mixed kinds or listed twice", async () => {
    const mixed = await edited((section) => (section.classes = ["long", 1]));
    await expect(loadPredictor(mixed)).rejects.toThrow(/mldeploy.classes/);
    const twice = await edited((section) => (section.classes = ["long", "long"]));
    await expect(loadPredictor(twice)).rejects.toThrow(/each class must be listed once/);
  });

  it("refuses a text label where the signature promises a number", async () => {
    const bundle = await saveClassifierBundle(tempDir("mldeploy-classifier-sig-"), "string");
    const file = path.join(bundle, "MLmodel");
    const mlmodel = parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
    (mlmodel.signature as Record<string, unknown>).outputs = JSON.stringify([
      { name: LABEL, type: "double" },
    ]);
    writeFileSync(file, stringifyYaml(mlmodel));
    await expect(loadPredictor(bundle)).rejects.toThrow(
      /signature mismatch: output "trip_class" is double in the signature but string in the ONNX graph/,
    );
  });
});
