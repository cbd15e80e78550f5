import { copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { detectSource } from "../../../src/import/source.js";
import { NO_PYTHON_LIBS, pythonHasAll } from "../fixtures.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { PIPELINE_MODULES, pipelineFixtures } from "./fixture.js";

describe.skipIf(!pythonHasAll(...PIPELINE_MODULES))("source detection", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await pipelineFixtures();
  }, 300_000);

  test("an ONNX bundle is served as it is", async () => {
    const bundle = await rideBundlePath();
    expect(await detectSource(bundle)).toEqual({ kind: "bundle", dir: path.resolve(bundle) });
  });

  test("pickle, joblib (zlib) and XGBoost JSON / UBJSON / legacy binary files, by content", async () => {
    const scratch = tempDir();
    // Names that say nothing: the first bytes decide.
    for (const [from, to] of [
      ["lin_reg.bin", "a"],
      ["lin_reg.joblib", "b"],
      ["xgb-model.json", "c"],
      ["xgb-model.ubj", "d"],
      ["mlflow-xgboost/model.xgb", "e"],
    ]) {
      await copyFile(path.join(dir, from), path.join(scratch, to));
    }
    expect(await detectSource(path.join(scratch, "a"))).toMatchObject({
      kind: "sklearn",
      format: "pickle",
    });
    expect(await detectSource(path.join(scratch, "b"))).toMatchObject({
      kind: "sklearn",
      format: "joblib",
    });
    expect(await detectSource(path.join(scratch, "c"))).toMatchObject({
      kind: "xgboost",
      encoding: "json",
    });
    expect(await detectSource(path.join(scratch, "d"))).toMatchObject({
      kind: "xgboost",
      encoding: "ubj",
    });
    expect(await detectSource(path.join(scratch, "e"))).toMatchObject({
      kind: "xgboost",
      encoding: "binary",
    });
  });

  test("MLflow sklearn and xgboost directories as mlflow writes them", async () => {
    const sklearn = await detectSource(path.join(dir, "mlflow-sklearn"));
    expect(sklearn).toMatchObject({
      kind: "sklearn",
      format: "mlflow-sklearn",
      file: path.join(dir, "mlflow-sklearn", "model.pkl"),
      mlflow: { libraryVersion: expect.stringMatching(/^1\./) },
    });
    const xgboost = await detectSource(path.join(dir, "mlflow-xgboost"));
    expect(xgboost).toMatchObject({
      kind: "xgboost",
      format: "mlflow-xgboost",
      encoding: "binary",
      mlflow: {
        modelClass: "xgboost.sklearn.XGBRegressor",
        inputs: [{ name: "PULocationID" }, { name: "DOLocationID" }, { name: "trip_distance" }],
      },
    });
    // An unnamed tensor output gives no output name.
    expect((xgboost as { mlflow: { outputName?: string } }).mlflow.outputName).toBeUndefined();
  });

  test("an MLflow directory's files are read only inside it: links out are refused by name", async () => {
    const outside = tempDir();
    await copyFile(path.join(dir, "mlflow-sklearn", "model.pkl"), path.join(outside, "model.pkl"));
    const linked = path.join(tempDir(), "model");
    await mkdir(linked);
    await copyFile(path.join(dir, "mlflow-sklearn", "MLmodel"), path.join(linked, "MLmodel"));
    await symlink(path.join(outside, "model.pkl"), path.join(linked, "model.pkl"));
    await expect(detectSource(linked)).rejects.toThrow(
      /model\.pkl \(flavors\.sklearn\.pickled_model\) resolves to .*, outside the bundle/,
    );
    const mlmodelOut = path.join(tempDir(), "model");
    await mkdir(mlmodelOut);
    await copyFile(
      path.join(dir, "mlflow-sklearn", "model.pkl"),
      path.join(mlmodelOut, "model.pkl"),
    );
    await symlink(path.join(dir, "mlflow-sklearn", "MLmodel"), path.join(mlmodelOut, "MLmodel"));
    await expect(detectSource(mlmodelOut)).rejects.toThrow(
      /MLmodel resolves to .*, outside the bundle/,
    );
  });

  test("only python_function with loader_module mlflow.sklearn is enough", async () => {
    const scratch = tempDir();
    await copyFile(path.join(dir, "lin_reg.bin"), path.join(scratch, "model.pkl"));
    await writeFile(
      path.join(scratch, "MLmodel"),
      "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n",
    );
    expect(await detectSource(scratch)).toMatchObject({
      kind: "sklearn",
      file: path.join(scratch, "model.pkl"),
    });
  });

  test("a directory holding exactly one model file; two are refused by name", async () => {
    const scratch = tempDir();
    await copyFile(path.join(dir, "lin_reg.bin"), path.join(scratch, "lin_reg.bin"));
    await writeFile(path.join(scratch, "README.txt"), "the model\n");
    expect(await detectSource(scratch)).toMatchObject({
      kind: "sklearn",
      file: path.join(scratch, "lin_reg.bin"),
    });
    await copyFile(path.join(dir, "xgb-model.json"), path.join(scratch, "xgb.json"));
    await expect(detectSource(scratch)).rejects.toThrow(/holds 2 model files \(.*lin_reg\.bin.*\)/);
  });

  test("refusals name the path and what is accepted", async () => {
    await expect(detectSource(path.join(dir, "notes.txt"))).rejects.toThrow(
      /notes\.txt is not a model file mldeploy can read; accepted: .*pickle/,
    );
    await expect(detectSource(path.join(dir, "mlflow-skops"))).rejects.toThrow(
      /serialization_format is "skops"/,
    );
    const other = tempDir();
    await mkdir(other, { recursive: true });
    await writeFile(
      path.join(other, "MLmodel"),
      "flavors:\n  pytorch:\n    model_data: data\n  python_function:\n    loader_module: mlflow.pytorch\n",
    );
    await expect(detectSource(other)).rejects.toThrow(
      /MLmodel has flavors pytorch, python_function \(python_function loader_module mlflow\.pytorch\); mldeploy reads flavors onnx, sklearn and xgboost/,
    );
  });
});

// Keep the message in the report when the libraries are missing.
if (!pythonHasAll(...PIPELINE_MODULES))
  console.warn(`${path.basename(import.meta.filename)}: ${NO_PYTHON_LIBS}`);
