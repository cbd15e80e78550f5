import { writeFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RIDES_SPEC } from "../../src/rides/index.js";
import {
  fitCategoricalLinear,
  predictLinear,
  type CategoricalLinearModel,
} from "../../src/train/linear.js";
import { loadTrips, type LoadedTrips } from "../../src/train/load-trips.js";
import {
  exportOnnx,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
} from "../../src/train/onnx-export.js";
import { decodeModel } from "../../src/model/onnx-proto.js";
import { writeSampleTrips } from "../../src/train/sample-data.js";
import { makeTempDir, pythonHas, runPython, worstRelativeError } from "./helpers.js";

const HAS_ONNX = pythonHas("onnx");
const NO_ONNX = "skipped: /usr/bin/python3 cannot import onnx (run `apt-get install python3-onnx`)";
if (!HAS_ONNX) console.warn(`onnx checker test ${NO_ONNX}`);

function fit(data: LoadedTrips, alpha: number): CategoricalLinearModel {
  return fitCategoricalLinear({
    categoricalFeature: "PU_DO",
    categorical: data.features.PU_DO as string[],
    numericFeatures: ["trip_distance"],
    numeric: [data.features.trip_distance as Float64Array],
    target: data.target,
    alpha,
  });
}

async function runOnnx(
  bytes: Uint8Array,
  categories: string[],
  distance: Float64Array,
): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({
      PU_DO: new ort.Tensor("string", categories, [categories.length]),
      trip_distance: new ort.Tensor("float64", distance, [distance.length]),
    });
    const output = result.duration;
    expect(output.type).toBe("float64");
    expect(output.dims).toEqual([categories.length]);
    return output.data as Float64Array;
  } finally {
    await session.release();
  }
}

describe("ONNX export", () => {
  let cleanup: (() => Promise<void>) | undefined;
  let dir: string;
  let train: LoadedTrips;
  let valid: LoadedTrips;

  beforeAll(async () => {
    const temp = await makeTempDir("onnx");
    cleanup = temp.cleanup;
    dir = temp.dir;
    await writeSampleTrips({
      path: path.join(dir, "train.parquet"),
      seed: 3,
      year: 2021,
      month: 3,
      rows: 20_000,
    });
    await writeSampleTrips({
      path: path.join(dir, "valid.parquet"),
      seed: 3,
      year: 2021,
      month: 4,
      rows: 5_000,
    });
    train = await loadTrips(path.join(dir, "train.parquet"), RIDES_SPEC);
    valid = await loadTrips(path.join(dir, "valid.parquet"), RIDES_SPEC);
  });

  afterAll(async () => {
    await cleanup?.();
  });

  for (const alpha of [0, 1]) {
    it(`onnxruntime reproduces predictLinear, unseen categories included (alpha=${alpha})`, async () => {
      const model = fit(train, alpha);
      const bytes = exportOnnx(model, { outputName: "duration", producer: "mldeploy" });
      const categories = [...(valid.features.PU_DO as string[]), "999_999", "", "not a zone"];
      const distance = Float64Array.from([
        ...(valid.features.trip_distance as Float64Array),
        1,
        2.5,
        0,
      ]);
      const seen = new Set(model.categories);
      expect(categories.filter((c) => !seen.has(c)).length).toBeGreaterThan(50);

      const fromOnnx = await runOnnx(bytes, categories, distance);
      const expected = predictLinear(model, categories, [distance]);
      expect(worstRelativeError(fromOnnx, expected).error).toBeLessThan(1e-5);
    });
  }

  it("writes IR 8, opsets 17 / ml 3, 1-D inputs with a symbolic batch dim", () => {
    const decoded = decodeModel(
      exportOnnx(fit(train, 0), { outputName: "duration", producer: "mldeploy" }),
    );
    expect(decoded.ir_version).toBe(ONNX_IR_VERSION);
    expect(decoded.producer_name).toBe("mldeploy");
    expect(decoded.opset_import).toEqual(
      expect.arrayContaining([
        { domain: "", version: ONNX_OPSET },
        { domain: "ai.onnx.ml", version: ONNX_ML_OPSET },
      ]),
    );
    const shapeOf = (info: (typeof decoded.graph.input)[number]) => info.type.tensor_type.shape.dim;
    expect(decoded.graph.input.map((i) => [i.name, i.type.tensor_type.elem_type])).toEqual([
      ["PU_DO", 8],
      ["trip_distance", 11],
    ]);
    for (const info of [...decoded.graph.input, ...decoded.graph.output])
      expect(shapeOf(info)).toEqual([{ dim_param: "N" }]);
    expect(decoded.graph.output.map((o) => [o.name, o.type.tensor_type.elem_type])).toEqual([
      ["duration", 11],
    ]);
  });

  it("keeps the graph the same size whatever the number of categories", () => {
    const small = fitCategoricalLinear({
      categoricalFeature: "PU_DO",
      categorical: ["1_1", "1_2", "1_1"],
      numericFeatures: ["trip_distance"],
      numeric: [Float64Array.of(1, 2, 4)],
      target: Float64Array.of(3, 5, 9),
    });
    const large = fit(train, 0);
    expect(large.categories.length).toBeGreaterThan(1000);
    const graphs = [small, large].map(
      (m) => decodeModel(exportOnnx(m, { outputName: "duration" })).graph,
    );
    const ops = graphs.map((g) => g.node.map((n) => n.op_type));
    expect(ops[0]).toEqual(ops[1]);
    expect(ops[0]).toEqual(["LabelEncoder", "Gather", "Mul", "Add", "Add"]);
    // Categories live in one lookup and one weight vector (+1 slot for unseen), not in nodes.
    const weights = graphs[1].initializer.find((t) => t.name === "category_weights");
    expect(weights?.dims).toEqual([large.categories.length + 1]);
  });

  it.skipIf(!HAS_ONNX)(
    `passes onnx.checker.check_model(full_check=True)${HAS_ONNX ? "" : ` — ${NO_ONNX}`}`,
    async () => {
      const file = path.join(dir, "model.onnx");
      await writeFile(
        file,
        exportOnnx(fit(train, 1), { outputName: "duration", producer: "mldeploy" }),
      );
      const out = await runPython(
        "import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); " +
          "print(onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.output[0].type.tensor_type.elem_type)",
        [file],
      );
      expect(out.trim()).toBe("11");
    },
  );
});
