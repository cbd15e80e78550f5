import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertXgboostModel } from "../../../src/import/xgboost/convert.js";
import { ImportError } from "../../../src/import/types.js";
import { NO_PYTHON_LIBS, pythonHasAll } from "../fixtures.js";
import {
  checkOnnx,
  fixtureBytes,
  labelMismatches,
  ROWS,
  runGraph,
  worstError,
  xgboostFixtures,
  type XgbFixtures,
} from "./fixtures.js";

/**
 * Tolerances. XGBoost casts the features to float32, sums float32 leaf values onto the base
 * margin tree by tree, applies the objective in float32 and returns float32. The graph makes
 * the same float32 splits (`float(x) < split_condition`, NaN to the default child) and sums
 * the same float32 leaves in onnxruntime's TreeEnsembleRegressor, whose order of additions
 * depends on its thread count (with more trees than threads it sums chunks of trees per
 * thread and adds the chunks): the margins differ by a few float32 roundings, ~1e-7 of the
 * margin. The objective is then applied to the float32 margin in double.
 * - identity and sigmoid outputs, probabilities: 1e-6, relative above 1 and absolute below;
 * - exp outputs (count:poisson): the relative error of exp(m) is the absolute error of m,
 *   a few float32 ulps of a margin near 3 (ulp 2.4e-7): 3e-6 relative;
 * - labels identical.
 */
const TOLERANCE = 1e-6;
const EXP_TOLERANCE = 3e-6;

const HAS_LIBS = pythonHasAll("xgboost", "numpy", "joblib", "onnx");
if (!HAS_LIBS) console.warn(`xgboost import tests ${NO_PYTHON_LIBS}`);

const FORMATS = ["json", "ubj", "xgb", "raw", "snapshot"] as const;

describe.skipIf(!HAS_LIBS)(
  "XGBoost model files → ONNX (predictions of python3-xgboost 1.7)",
  () => {
    let fx: XgbFixtures;
    let out: string;
    const written: string[] = [];

    beforeAll(async () => {
      fx = await xgboostFixtures();
      out = await mkdtemp(path.join(os.tmpdir(), "mldeploy-xgb-"));
    }, 600_000);
    afterAll(async () => {
      if (out) await rm(out, { recursive: true, force: true });
    });

    async function convert(file: string, options: { featureNames?: string[] } = {}) {
      const model = convertXgboostModel(await fixtureBytes(fx.dir, file), {
        ...options,
        source: file,
      });
      const onnxFile = path.join(out, `${file}.onnx`);
      await writeFile(onnxFile, model.onnx);
      written.push(onnxFile);
      return model;
    }

    /** Column names of the features for a booster saved without feature names. */
    const numbered = (rows: XgbFixtures["rows"]) => ({
      f0: rows.PULocationID,
      f1: rows.DOLocationID,
      f2: rows.trip_distance,
    });

    for (const format of FORMATS) {
      it(`reads a regressor, a binary and a 3-class classifier saved as .${format}`, async () => {
        const reg = await convert(`reg.${format}`);
        expect(reg.kind).toBe("regressor");
        expect(reg.inputs.map((c) => c.name)).toEqual(["f0", "f1", "f2"]);
        expect(reg.outputs).toEqual([{ name: "prediction", type: "double" }]);
        const regOut = await runGraph(reg.onnx, numbered(fx.rows));
        expect(regOut.prediction.length).toBe(ROWS);
        expect(worstError(regOut.prediction, fx.predictions.reg.predict)).toBeLessThanOrEqual(
          TOLERANCE,
        );

        const cls = await convert(`cls.${format}`);
        expect(cls.kind).toBe("classifier");
        expect(cls.classes).toEqual([0, 1]);
        const clsOut = await runGraph(cls.onnx, numbered(fx.rows));
        expect(labelMismatches(clsOut.label, fx.predictions.cls.predict)).toBe(0);
        expect(
          worstError(clsOut.probabilities, fx.predictions.cls.proba ?? []),
        ).toBeLessThanOrEqual(TOLERANCE);

        const multi = await convert(`multi.${format}`);
        expect(multi.classes).toEqual([0, 1, 2]);
        const multiOut = await runGraph(multi.onnx, numbered(fx.rows));
        expect(labelMismatches(multiOut.label, fx.predictions.multi.predict)).toBe(0);
        expect(
          worstError(multiOut.probabilities, fx.predictions.multi.proba ?? []),
        ).toBeLessThanOrEqual(TOLERANCE);
      });
    }

    it("reads a boosted random forest (20 parallel trees in one round)", async () => {
      const rf = await convert("rf.ubj");
      const result = await runGraph(rf.onnx, numbered(fx.rows));
      expect(worstError(result.prediction, fx.predictions.rf.predict)).toBeLessThanOrEqual(
        TOLERANCE,
      );
    });

    const objectives: Array<[string, "regressor" | "classifier"]> = [
      ["poisson", "regressor"],
      ["logistic", "regressor"],
      ["logitraw", "regressor"],
      ["binary", "classifier"],
      ["softmax", "classifier"],
      ["softprob", "classifier"],
      ["huber", "regressor"],
      ["linear", "regressor"],
      ["dart", "regressor"],
    ];
    for (const [name, kind] of objectives) {
      it(`xgb.train booster "${name}" with feature names, in JSON, UBJSON and binary`, async () => {
        for (const format of ["json", "ubj", "xgb"]) {
          const model = await convert(`${name}.${format}`);
          expect(model.kind).toBe(kind);
          // JSON and UBJSON keep the feature names; the binary format has none (f0…) unless given.
          const names = ["PULocationID", "DOLocationID", "trip_distance"];
          if (format === "xgb") {
            expect(model.inputs.map((c) => c.name)).toEqual(["f0", "f1", "f2"]);
          } else {
            expect(model.inputs.map((c) => c.name)).toEqual(names);
          }
          const named =
            format === "xgb" ? await convert(`${name}.xgb`, { featureNames: names }) : model;
          const result = await runGraph(named.onnx, fx.rows);
          const expected = fx.predictions[name].predict;
          if (kind === "regressor") {
            expect(worstError(result.prediction, expected)).toBeLessThanOrEqual(
              name === "poisson" ? EXP_TOLERANCE : TOLERANCE,
            );
          } else if (name === "binary") {
            // Booster.predict gives P(class 1): the second probability column.
            const p1 = Array.from({ length: ROWS }, (_, i) =>
              Number(result.probabilities[2 * i + 1]),
            );
            expect(worstError(p1, expected)).toBeLessThanOrEqual(TOLERANCE);
            expect(
              labelMismatches(
                result.label,
                expected.map((p) => (p > 0.5 ? 1 : 0)),
              ),
            ).toBe(0);
          } else if (name === "softmax") {
            // multi:softmax's Booster.predict is the class index.
            expect(labelMismatches(result.label, expected)).toBe(0);
          } else {
            expect(worstError(result.probabilities, expected)).toBeLessThanOrEqual(TOLERANCE);
          }
        }
      });
    }

    for (const layout of ["v2", "v31"]) {
      it(`reads the XGBoost ${layout === "v2" ? "2.x" : "3.1"} JSON layout with the same predictions`, async () => {
        const reg = await convert(`reg.${layout}.json`);
        expect(reg.library?.version).toBe(layout === "v2" ? "2.1.4" : "3.1.0");
        const regOut = await runGraph(reg.onnx, numbered(fx.rows));
        expect(worstError(regOut.prediction, fx.predictions.reg.predict)).toBeLessThanOrEqual(
          TOLERANCE,
        );
        const multi = await convert(`multi.${layout}.json`);
        const multiOut = await runGraph(multi.onnx, numbered(fx.rows));
        expect(labelMismatches(multiOut.label, fx.predictions.multi.predict)).toBe(0);
        expect(
          worstError(multiOut.probabilities, fx.predictions.multi.proba ?? []),
        ).toBeLessThanOrEqual(TOLERANCE);
        const softmax = await convert(`softmax.${layout}.json`);
        const softmaxOut = await runGraph(softmax.onnx, fx.rows);
        expect(labelMismatches(softmaxOut.label, fx.predictions.softmax.predict)).toBe(0);
        const dart = await convert(`dart.${layout}.json`);
        const dartOut = await runGraph(dart.onnx, fx.rows);
        expect(worstError(dartOut.prediction, fx.predictions.dart.predict)).toBeLessThanOrEqual(
          TOLERANCE,
        );
      });
    }

    it("refuses gblinear and categorical splits, naming them", async () => {
      for (const file of ["gblinear.json", "gblinear.xgb"]) {
        const bytes = await fixtureBytes(fx.dir, file);
        expect(() => convertXgboostModel(bytes, { source: file })).toThrow(ImportError);
        expect(() => convertXgboostModel(bytes, { source: file })).toThrow(
          /booster "gblinear" is not supported \(supported: gbtree, dart\)/,
        );
      }
      const categorical = await fixtureBytes(fx.dir, "categorical.json");
      expect(() => convertXgboostModel(categorical)).toThrow(/categorical split/);
    });

    it("refuses an unknown objective, naming it and listing the supported ones", async () => {
      const text = new TextDecoder().decode(await fixtureBytes(fx.dir, "reg.json"));
      const doc = JSON.parse(text) as { learner: { objective: { name: string } } };
      doc.learner.objective.name = "rank:pairwise";
      const bytes = new TextEncoder().encode(JSON.stringify(doc));
      expect(() => convertXgboostModel(bytes)).toThrow(ImportError);
      expect(() => convertXgboostModel(bytes)).toThrow(
        /objective "rank:pairwise" is not supported \(supported: reg:squarederror, .*binary:logistic.*multi:softprob/,
      );
    });

    it("refuses multi-target models (num_target, vector leaves), naming the field", async () => {
      const text = new TextDecoder().decode(await fixtureBytes(fx.dir, "reg.json"));
      type Doc = {
        learner: {
          learner_model_param: Record<string, string>;
          gradient_booster: { model: { trees: Array<{ tree_param: Record<string, string> }> } };
        };
      };
      const targets = JSON.parse(text) as Doc;
      targets.learner.learner_model_param.num_target = "2";
      expect(() => convertXgboostModel(new TextEncoder().encode(JSON.stringify(targets)))).toThrow(
        /multi-target model \(num_target 2\) is not supported/,
      );
      const vectorLeaf = JSON.parse(text) as Doc;
      vectorLeaf.learner.gradient_booster.model.trees[3].tree_param.size_leaf_vector = "2";
      expect(() =>
        convertXgboostModel(new TextEncoder().encode(JSON.stringify(vectorLeaf))),
      ).toThrow(/trees\[3\] is a multi-target tree \(size_leaf_vector 2\)/);
    });

    it("refuses feature names that do not match the model", async () => {
      const bytes = await fixtureBytes(fx.dir, "reg.xgb");
      expect(() => convertXgboostModel(bytes, { featureNames: ["a", "b"] })).toThrow(
        /2 feature names for a model with 3 features/,
      );
    });

    it("gives an ImportError, never a crash, for truncated and corrupted files of each format", async () => {
      let checked = 0;
      for (const file of ["reg.json", "reg.ubj", "reg.xgb", "dart.xgb", "multi.snapshot"]) {
        const bytes = await fixtureBytes(fx.dir, file);
        for (const fraction of [0, 0.001, 0.1, 0.5, 0.9, 0.999]) {
          const cut = bytes.subarray(0, Math.floor(bytes.length * fraction));
          expect(
            () => convertXgboostModel(cut, { source: file }),
            `${file} cut at ${fraction}`,
          ).toThrow(ImportError);
          checked++;
        }
        // Corrupt bytes: either a clear ImportError or a model that still converts; nothing else.
        let seed = 7;
        for (let trial = 0; trial < 40; trial++) {
          const copy = bytes.slice();
          for (let k = 0; k < 8; k++) {
            seed = (seed * 1103515245 + 12345) % 2 ** 31;
            copy[seed % copy.length] = seed & 0xff;
          }
          try {
            convertXgboostModel(copy, { source: file });
          } catch (error) {
            expect(error, `${file} corrupted (trial ${trial}): ${String(error)}`).toBeInstanceOf(
              ImportError,
            );
          }
          checked++;
        }
      }
      const random = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
      expect(() => convertXgboostModel(random)).toThrow(ImportError);
      expect(checked).toBeGreaterThan(200);
    });

    it("every graph passes onnx.checker.check_model(full_check=True)", async () => {
      expect(written.length).toBeGreaterThan(30);
      await checkOnnx(written);
    }, 120_000);
  },
);
