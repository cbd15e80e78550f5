import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { saveBundle } from "../../src/model/bundle.js";
import { inlineFeatures } from "../../src/model/inline-features.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { ColumnSpec, FeatureExpr, Predictor } from "../../src/model/types.js";
import { exportOnnx } from "../../src/train/onnx-export.js";
import { checkOnnx, ONNX_CHECKER_AVAILABLE } from "../helpers/onnx-checker.js";
import { tempDir } from "../helpers/temp.js";

/**
 * The feature map compiled into the graph must predict exactly what mldeploy predicted with
 * the map applied before the graph: each case writes the same model both ways (inlineFeatures
 * false is the format of bundles before issue 19) and compares every row, edge values included.
 */

const open: Predictor[] = [];
afterAll(async () => {
  for (const predictor of open) await predictor.close();
});

interface Setup {
  categories: string[];
  inputs: ColumnSpec[];
  features: Record<string, FeatureExpr>;
}

function graphFor(categories: string[]): Uint8Array {
  return exportOnnx(
    {
      categoricalFeature: "PU_DO",
      categories,
      categoryWeights: Float64Array.from(categories, (_, i) => (i + 1) * 1.5),
      numericFeatures: ["trip_distance"],
      numericWeights: Float64Array.of(0.25),
      intercept: 3,
    },
    { outputName: "duration" },
  );
}

async function bothWays(setup: Setup): Promise<{ inlined: Predictor; mapped: Predictor }> {
  const root = tempDir("mldeploy-inline-");
  const load = async (inline: boolean): Promise<Predictor> => {
    const dir = path.join(root, inline ? "inlined" : "mapped");
    const saved = await saveBundle(dir, {
      onnx: graphFor(setup.categories),
      signature: {
        inputs: [
          { name: "PU_DO", type: "string" },
          { name: "trip_distance", type: "double" },
        ],
        outputs: [{ name: "duration", type: "double" }],
      },
      mldeploy: {
        format_version: 1,
        inputs: setup.inputs,
        features: setup.features,
        output: "duration",
      },
      inputExample: [],
      inlineFeatures: inline,
    });
    expect(saved.selfContained, saved.featuresOutside).toBe(inline);
    if (inline && ONNX_CHECKER_AVAILABLE) await checkOnnx(path.join(dir, "model.onnx"));
    const predictor = await loadPredictor(dir);
    open.push(predictor);
    return predictor;
  };
  return { inlined: await load(true), mapped: await load(false) };
}

async function expectSamePredictions(setup: Setup, rows: Record<string, unknown>[]) {
  const { inlined, mapped } = await bothWays(setup);
  expect(inlined.info.inputs).toEqual(setup.inputs);
  const ours = Array.from((await inlined.predictRecords(rows)).values as Float64Array);
  const before = Array.from((await mapped.predictRecords(rows)).values as Float64Array);
  expect(ours).toEqual(before);
  return ours;
}

const long = (name: string): ColumnSpec => ({ name, type: "long" });
const double = (name: string): ColumnSpec => ({ name, type: "double" });
const pair = (sep: string): FeatureExpr => ({
  concat: [{ column: "a" }, ...(sep ? [sep] : []), { column: "b" }],
});
const distance: FeatureExpr = { column: "trip_distance" };

describe("inlineFeatures: the feature map inside the graph predicts as the map before it", () => {
  it("zone pairs of long ids, with keys that no integers print (dropped) and impossible ids", async () => {
    const setup = {
      categories: ["10_50", "130_205", "7_7", "0_0", "-3_4", "01_2", "x_1", "1_2_3", "1e3_1"],
      inputs: [long("a"), long("b"), double("trip_distance")],
      features: { PU_DO: pair("_"), trip_distance: distance },
    };
    const rows = [
      [10, 50],
      [130, 205],
      [7, 7],
      [0, 0],
      [-3, 4],
      [1, 2],
      [50, 10],
      [131, 205],
      [-4, 4],
      [1000, 1],
      [2 ** 40, 50],
      [-(2 ** 40), 0],
      [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
    ].map(([a, b], i) => ({ a, b, trip_distance: i }));
    const values = await expectSamePredictions(setup, rows);
    // Not all equal to the unknown route's answer: known routes do find their weights.
    expect(new Set(values.slice(0, 5).map((v, i) => v - 0.25 * i)).size).toBe(5);
  });

  it("columns joined without a separator, where one text is several pairs of ids", async () => {
    const setup = {
      categories: ["123", "12", "1", "45", "-1-2", "100"],
      inputs: [long("a"), long("b"), double("trip_distance")],
      features: { PU_DO: pair(""), trip_distance: distance },
    };
    const rows = [
      [1, 23],
      [12, 3],
      [1, 2],
      [4, 5],
      [-1, -2],
      [10, 0],
      [1, 0],
      [123, 0],
      [0, 123],
    ].map(([a, b]) => ({ a, b, trip_distance: 1 }));
    await expectSamePredictions(setup, rows);
  });

  it("double and integer columns: only integral values within the keys' range match", async () => {
    const setup = {
      categories: ["1-2-3", "10-20-30", "5-0-7"],
      inputs: [
        double("a"),
        { name: "b", type: "integer" } as ColumnSpec,
        long("c"),
        double("trip_distance"),
      ],
      features: {
        PU_DO: { concat: [{ column: "a" }, "-", { column: "b" }, "-", { column: "c" }] },
        trip_distance: distance,
      },
    };
    const rows = [
      [1, 2, 3],
      [10, 20, 30],
      [5, 0, 7],
      [-0, 0, 7],
      [1.5, 2, 3],
      [1e-300, 2, 3],
      [10, 20, 31],
      [1e21, 2, 3],
      [5, -0, 7],
    ].map(([a, b, c]) => ({ a, b, c, trip_distance: 2 }));
    await expectSamePredictions(setup, rows);
  });

  it("sums and renamed or retyped columns", async () => {
    const setup = {
      categories: ["1_1", "2_2"],
      inputs: [long("pu"), long("do"), long("miles"), double("extra")],
      features: {
        PU_DO: { concat: [{ column: "pu" }, "_", { column: "do" }] },
        trip_distance: { sum: [{ column: "miles" }, 0.5, { column: "extra" }] },
      } as Record<string, FeatureExpr>,
    };
    const rows = [
      { pu: 1, do: 1, miles: 3, extra: 0.25 },
      { pu: 2, do: 2, miles: 0, extra: -1e-17 },
      { pu: 3, do: 1, miles: 2 ** 52, extra: 0.5 },
    ];
    await expectSamePredictions(setup, rows);
    const retyped = {
      categories: ["1_1"],
      inputs: [long("pu"), long("do"), long("miles")],
      features: {
        PU_DO: { concat: [{ column: "pu" }, "_", { column: "do" }] },
        trip_distance: { column: "miles" },
      } as Record<string, FeatureExpr>,
    };
    await expectSamePredictions(retyped, [{ pu: 1, do: 1, miles: 7 }]);
  });

  it("a request column named like a value inside the graph (category_index) gets its own input", async () => {
    const setup = {
      categories: ["1_1", "2_3"],
      inputs: [long("category_index"), long("coef_0"), double("trip_distance")],
      features: {
        PU_DO: { concat: [{ column: "category_index" }, "_", { column: "coef_0" }] },
        trip_distance: distance,
      } as Record<string, FeatureExpr>,
    };
    await expectSamePredictions(setup, [
      { category_index: 2, coef_0: 3, trip_distance: 1 },
      { category_index: 1, coef_0: 1, trip_distance: 2 },
      { category_index: 3, coef_0: 2, trip_distance: 2 },
    ]);
  });
});

describe("inlineFeatures leaves in mldeploy.features what the graph cannot build, saying why", () => {
  it.each<[string, string[], ColumnSpec[], Record<string, FeatureExpr>, RegExp]>([
    [
      "a text column joined (no string concatenation before opset 20)",
      ["1_2", "a_b"],
      [{ name: "a", type: "string" }, long("b"), double("trip_distance")],
      { PU_DO: pair("_"), trip_distance: distance },
      /feature "PU_DO": column "a" is string: only integer ids .* no string concatenation before opset 20/,
    ],
    [
      "a key that a double column prints, but not as an integer",
      ["1.5_2", "1_2"],
      [double("a"), long("b"), double("trip_distance")],
      { PU_DO: pair("_"), trip_distance: distance },
      /feature "PU_DO": its key "1.5_2" holds "1.5", which a double column prints, but not as an integer/,
    ],
    [
      "a text column fed into a number",
      ["1_2"],
      [long("a"), long("b"), { name: "t", type: "string" }],
      { PU_DO: pair("_"), trip_distance: { column: "t" } },
      /feature "trip_distance": column "t" is string/,
    ],
    [
      "ids whose ranges make a key wider than 2^53",
      [`0_0`, `${2 ** 40}_${2 ** 40}`],
      [long("a"), long("b"), double("trip_distance")],
      { PU_DO: pair("_"), trip_distance: distance },
      /too wide for one int64 key/,
    ],
  ])("%s", (_name, categories, inputs, features, reason) => {
    const result = inlineFeatures(graphFor(categories), inputs, features);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});
