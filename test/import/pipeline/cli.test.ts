import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { NO_PYTHON_LIBS, pythonHasAll } from "../fixtures.js";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/temp.js";
import { PIPELINE_MODULES, pipelineFixtures } from "./fixture.js";

const PU_DO = 'PU_DO=PULocationID + "_" + DOLocationID';

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function expectClose(actual: number[], expected: number[], tolerance = 1e-6): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1));
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe.skipIf(!pythonHasAll(...PIPELINE_MODULES))("mldeploy import and imported sources", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await pipelineFixtures();
  }, 300_000);

  test("the original service's lin_reg.bin → bundle → predict answers as lr.predict(dv.transform(...)); info shows where it came from", async () => {
    const out = path.join(tempDir(), "ride-duration");
    const source = path.join(dir, "lin_reg.bin");
    const imported = await runCli([
      "import",
      source,
      "--feature",
      PU_DO,
      "--output",
      "duration",
      "--out",
      out,
    ]);
    expect(imported.stderr).toBe("");
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/estimator +\(DictVectorizer, LinearRegression\)/);

    const predicted = await runCli(["predict", out, "--input", path.join(dir, "rows.jsonl")]);
    expect(predicted.status).toBe(0);
    const answers = predicted.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { duration: number });
    const python = JSON.parse(
      readFileSync(path.join(dir, "lin_reg.pred.json"), "utf8"),
    ) as number[];
    expectClose(
      answers.map((a) => a.duration),
      python,
    );

    const info = await runCli(["info", out, "--json"]);
    const summary = JSON.parse(info.stdout) as {
      source: { sha256: string; format: string; file: string };
      importer: { estimator: string; library: { name: string } };
      declared_features: string[];
      output: string;
    };
    expect(summary.source).toMatchObject({
      sha256: sha256(source),
      format: "pickle",
      file: "lin_reg.bin",
    });
    expect(summary.importer).toMatchObject({
      estimator: "(DictVectorizer, LinearRegression)",
      library: { name: "scikit-learn" },
    });
    expect(summary.declared_features).toEqual([PU_DO]);
    expect(summary.output).toBe("duration");
    const text = await runCli(["info", out]);
    expect(text.stdout).toContain(`sha256 ${sha256(source)}`);
  });

  test("a model input nothing provides is one line suggesting --feature", async () => {
    const result = await runCli([
      "import",
      path.join(dir, "lin_reg.bin"),
      "--out",
      path.join(tempDir(), "b"),
      "--input",
      "PULocationID:long,DOLocationID:long,trip_distance",
    ]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(`the model needs input "PU_DO" (string)`);
    expect(result.stderr).toContain(`--feature 'PU_DO=PULocationID + "_" + DOLocationID'`);
  });

  test("--check runs the original model in Python and records the result; without Python it says so and goes on", async () => {
    const scratch = tempDir();
    const checked = await runCli(
      [
        "import",
        path.join(dir, "lin_reg.joblib"),
        "--feature",
        PU_DO,
        "--out",
        path.join(scratch, "a"),
        "--check",
        path.join(dir, "rows.jsonl"),
      ],
      { env: { MLDEPLOY_PYTHON: "/usr/bin/python3" } },
    );
    expect(checked.status).toBe(0);
    expect(checked.stdout).toMatch(
      /check +passed: 500 rows, worst relative error .* \(Python: \/usr\/bin\/python3\)/,
    );
    const info = JSON.parse((await runCli(["info", path.join(scratch, "a"), "--json"])).stdout) as {
      check: { status: string; rows: number };
      source: { format: string };
    };
    expect(info.check).toMatchObject({ status: "passed", rows: 500 });
    expect(info.source.format).toBe("joblib");

    const missing = path.join(scratch, "no-python");
    const skipped = await runCli(
      [
        "import",
        path.join(dir, "lin_reg.bin"),
        "--feature",
        PU_DO,
        "--out",
        path.join(scratch, "b"),
        "--check",
        path.join(dir, "rows.jsonl"),
      ],
      { env: { MLDEPLOY_PYTHON: missing } },
    );
    expect(skipped.status).toBe(0);
    expect(skipped.stdout).toContain(
      `check     skipped: no Python with scikit-learn found (tried ${missing})`,
    );
    expect(existsSync(path.join(scratch, "b", "MLmodel"))).toBe(true);
  });

  test("a hostile pickle is refused with exit code 2 and nothing runs, alone or inside an MLflow directory, by import and by serve", async () => {
    const marker = path.join(dir, "PWNED");
    for (const args of [
      ["import", path.join(dir, "hostile.pkl"), "--out", path.join(tempDir(), "h")],
      [
        "import",
        path.join(dir, "mlflow-hostile"),
        "--feature",
        PU_DO,
        "--out",
        path.join(tempDir(), "h"),
      ],
      ["predict", path.join(dir, "hostile.pkl"), "--json", "{}"],
      [
        "serve",
        path.join(dir, "mlflow-hostile"),
        "--feature",
        PU_DO,
        "--port",
        "0",
        "--workers",
        "1",
      ],
    ]) {
      const result = await runCli(args, { env: { MLDEPLOY_DATA_DIR: tempDir() } });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/refused to load: it asks for posix\.system/);
      expect(existsSync(marker)).toBe(false);
    }
  });

  test("--register logs a run of experiment import and registers a version with its aliases", async () => {
    const data = tempDir();
    const env = { MLDEPLOY_DATA_DIR: data };
    const result = await runCli(
      [
        "import",
        path.join(dir, "lin_reg.bin"),
        "--feature",
        PU_DO,
        "--output",
        "duration",
        "--register",
        "ride-duration",
        "--alias",
        "production",
        "--alias",
        "staging",
      ],
      { env },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(
      /registered ride-duration version 1 \(aliases production, staging\)/,
    );
    const info = JSON.parse(
      (await runCli(["info", "models:/ride-duration@staging", "--json"], { env })).stdout,
    ) as { source: { sha256: string }; output: string };
    expect(info.source.sha256).toBe(sha256(path.join(dir, "lin_reg.bin")));
    const predicted = await runCli(
      [
        "predict",
        "models:/ride-duration@production",
        "--json",
        '{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.2}',
      ],
      { env },
    );
    expect(JSON.parse(predicted.stdout)).toMatchObject({
      duration: expect.any(Number),
    });
    const runs = await runCli(["runs", "list", "--experiment", "import", "--json"], { env });
    expect(runs.stdout).toContain("lin_reg.bin");
  });
});

if (!pythonHasAll(...PIPELINE_MODULES))
  console.warn(`${path.basename(import.meta.filename)}: ${NO_PYTHON_LIBS}`);
