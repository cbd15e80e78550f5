import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { NO_PYTHON_LIBS, pythonHasAll } from "../fixtures.js";
import { runCli } from "../../helpers/cli.js";
import { startServeProcess } from "../../helpers/serve-process.js";
import { tempDir } from "../../helpers/temp.js";
import { PIPELINE_MODULES, pipelineFixtures } from "./fixture.js";

const PU_DO = 'PU_DO=PULocationID + "_" + DOLocationID';

function rows(dir: string): Array<Record<string, number>> {
  return readFileSync(path.join(dir, "rows.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, number>);
}

function expectClose(actual: number[], expected: number[], tolerance = 1e-6): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1));
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe.skipIf(!pythonHasAll(...PIPELINE_MODULES))(
  "imported sources served and predicted directly",
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await pipelineFixtures();
    }, 300_000);

    test("serve takes an MLflow sklearn directory with --feature, answers the original /predict as Python does, and a restart does not convert again", async () => {
      const data = tempDir();
      const args = [
        path.join(dir, "mlflow-sklearn"),
        "--feature",
        PU_DO,
        "--output",
        "duration",
        "--port",
        "0",
        "--workers",
        "1",
      ];
      const env = { MLDEPLOY_DATA_DIR: data };
      const request = rows(dir).slice(0, 50);
      const python = (
        JSON.parse(readFileSync(path.join(dir, "mlflow-sklearn.pred.json"), "utf8")) as number[]
      ).slice(0, 50);

      const first = await startServeProcess(args, { env });
      let cacheEntry: string;
      try {
        expect(first.output()).toContain("converted mlflow-sklearn model");
        const one = (await (
          await fetch(`${first.url}/predict`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request[0]),
          })
        ).json()) as { duration: number; model_version: string };
        expectClose([one.duration], [python[0]]);
        const many = (await (
          await fetch(`${first.url}/predict`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request),
          })
        ).json()) as Array<{ duration: number }>;
        expectClose(
          many.map((a) => a.duration),
          python,
        );
        const entries = readdirSync(path.join(data, "import-cache")).filter(
          (e) => !e.startsWith("."),
        );
        expect(entries).toHaveLength(1);
        cacheEntry = path.join(data, "import-cache", entries[0]);
      } finally {
        first.kill();
        await first.exited;
      }
      const converted = statSync(path.join(cacheEntry, "model.onnx")).mtimeMs;
      const second = await startServeProcess(args, { env });
      try {
        expect(second.output()).not.toContain("converted");
        const again = (await (
          await fetch(`${second.url}/predict`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request[1]),
          })
        ).json()) as { duration: number };
        expectClose([again.duration], [python[1]]);
      } finally {
        second.kill();
        await second.exited;
      }
      expect(statSync(path.join(cacheEntry, "model.onnx")).mtimeMs).toBe(converted);
    });

    test("an MLflow xgboost directory (legacy binary, names from the signature) and an XGBoost JSON file predict as Booster.predict", async () => {
      const env = { MLDEPLOY_DATA_DIR: tempDir() };
      const input = path.join(dir, "rows.jsonl");
      for (const [source, expected] of [
        ["mlflow-xgboost", "mlflow-xgboost.pred.json"],
        ["xgb-model.json", "xgb.pred.json"],
        ["xgb-model.ubj", "xgb.pred.json"],
      ]) {
        const result = await runCli(["predict", path.join(dir, source), "--input", input], { env });
        expect(result.stderr).toBe("");
        const values = result.stdout
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { prediction: number }).prediction);
        const python = JSON.parse(readFileSync(path.join(dir, expected), "utf8")) as number[];
        // float32 models: XGBoost sums its trees in float32.
        expectClose(values, python, 1e-6);
      }
    });
  },
);

if (!pythonHasAll(...PIPELINE_MODULES))
  console.warn(`${path.basename(import.meta.filename)}: ${NO_PYTHON_LIBS}`);
