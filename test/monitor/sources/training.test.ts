import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { trainTracked } from "../../../src/cli/commands/train.js";
import { UserError } from "../../../src/config/errors.js";
import { closeDuckDB, openDuckDB, type DuckDBEngine } from "../../../src/duckdb/index.js";
import { loadPredictor } from "../../../src/model/predictor.js";
import type { ModelInfo } from "../../../src/model/types.js";
import {
  loadTrainingReference,
  monitoredColumns,
  trainingMetric,
} from "../../../src/monitor/job/sources/index.js";
import { Registry, type LocalModel } from "../../../src/registry/registry.js";
import { RIDES_SPEC } from "../../../src/rides/index.js";
import { loadTrips } from "../../../src/train/load-trips.js";
import { writeSampleTrips } from "../../../src/train/sample-data.js";
import type { TrainResult } from "../../../src/train/train.js";
import { tempDir } from "../../helpers/temp.js";
import { queryRows, recordingLogger, tableTypes } from "./helpers.js";

/**
 * The training reference of a model trained and registered as `mldeploy train --experiment
 * --register` does it: the trainer's rows, the model's predictions on them.
 */
let engine: DuckDBEngine;
let registry: Registry;
let model: LocalModel;
let info: ModelInfo;
let trained: TrainResult;
let runId: string;
let trainPath: string;

beforeAll(async () => {
  engine = await openDuckDB({ memoryLimit: "256MB" });
  const dir = tempDir("mldeploy-reference-");
  registry = await Registry.open({ dataDir: path.join(dir, "registry") });
  trainPath = path.join(dir, "green_tripdata_2021-01.parquet");
  const validPath = path.join(dir, "green_tripdata_2021-02.parquet");
  await writeSampleTrips({ path: trainPath, seed: 1, year: 2021, month: 1, rows: 8_000 });
  await writeSampleTrips({ path: validPath, seed: 2, year: 2021, month: 2, rows: 4_000 });
  const tracked = await trainTracked(
    registry,
    {
      train: trainPath,
      valid: validPath,
      alpha: "0",
      out: path.join(dir, "bundle"),
      experiment: "nyc-taxi",
      register: "ride-duration",
    },
    recordingLogger().logger,
  );
  trained = tracked.result;
  runId = tracked.runId;
  model = await registry.resolveModel("models:/ride-duration/1");
  const predictor = await loadPredictor(model.path);
  info = predictor.info;
  await predictor.close();
});

afterAll(async () => {
  await registry?.close();
  await closeDuckDB(Promise.resolve(engine));
});

/** Training rides with every input, as the reference counts them ("12,345"). */
async function completeRows(): Promise<string> {
  const trips = await loadTrips(trainPath, RIDES_SPEC);
  return (trips.rowsRead - trips.droppedMissing).toLocaleString("en-US");
}

const ctx = () => ({ connection: engine.connection, logger: recordingLogger().logger });

describe("loadTrainingReference", () => {
  it("holds the trainer's rows and the model's predictions on them", async () => {
    const frame = await loadTrainingReference(ctx(), {
      table: "reference",
      registry,
      model,
      columns: monitoredColumns(info),
    });
    // Every training ride with its inputs: the trainer dropped rides with a missing input and
    // those outside 1–60 min; the reference keeps the latter (requests cannot be filtered on
    // a duration they do not have).
    const trips = await loadTrips(trainPath, RIDES_SPEC);
    expect(trips.droppedTarget).toBeGreaterThan(0);
    expect(frame.rows).toBe(trips.rowsRead - trips.droppedMissing);
    expect(frame.rows).toBe(trained.metrics.train_rows + trips.droppedTarget);
    expect(frame).toMatchObject({
      kind: "training",
      versions: [],
      skipped: [],
      runId,
      training: { metric: "valid_rmse", rmse: trained.metrics.valid_rmse },
    });
    expect(frame.columns.map((c) => c.name)).toEqual([
      "PULocationID",
      "DOLocationID",
      "trip_distance",
      "duration",
    ]);
    expect(frame.description).toContain(trainPath);
    expect(frame.description).toContain("1 <= duration <= 60");
    expect(await tableTypes(engine.connection, "reference")).toEqual({
      time: "TIMESTAMP",
      version: "VARCHAR",
      id: "VARCHAR",
      PULocationID: "BIGINT",
      DOLocationID: "BIGINT",
      trip_distance: "DOUBLE",
      duration: "DOUBLE",
    });

    // The predictor's own predictions on the trainer's rows, as a multiset keyed by the inputs.
    const predictor = await loadPredictor(model.path);
    const { values } = await predictor.predictColumns(trips.inputs);
    await predictor.close();
    const key = (pu: unknown, dol: unknown, d: unknown) =>
      `${Number(pu)}|${Number(dol)}|${Number(d)}`;
    const expected = new Map<string, number[]>();
    const cols = trips.inputs.columns;
    for (let i = 0; i < trips.rows; i++) {
      const k = key(
        (cols.PULocationID as Float64Array)[i],
        (cols.DOLocationID as Float64Array)[i],
        (cols.trip_distance as Float64Array)[i],
      );
      expected.set(k, [...(expected.get(k) ?? []), (values as Float64Array)[i]]);
    }
    const rows = await queryRows(engine.connection, "SELECT * FROM reference");
    // The rides outside 1–60 min are the reference's only rows the trainer did not keep (a few
    // share their inputs with a kept ride, so at most that many have no kept twin).
    let beyondTheFilter = 0;
    for (const row of rows) {
      expect(row.time).toBeNull();
      expect(row.version).toBeNull();
      const list = expected.get(key(row.PULocationID, row.DOLocationID, row.trip_distance));
      if (list === undefined) beyondTheFilter++;
      else expect(list).toContain(row.duration);
    }
    expect(beyondTheFilter).toBeGreaterThan(0);
    expect(beyondTheFilter).toBeLessThanOrEqual(trips.droppedTarget);
  });

  it("samples above maxRows", async () => {
    const frame = await loadTrainingReference(ctx(), {
      table: "reference_sample",
      registry,
      model,
      columns: monitoredColumns(info),
      maxRows: 1000,
    });
    expect(frame.rows).toBe(1000);
    expect(frame.description).toContain(`sampled 1,000 of ${await completeRows()} rows`);
    const nulls = await queryRows(
      engine.connection,
      "SELECT count(*) AS n FROM reference_sample WHERE duration IS NULL",
    );
    expect(nulls[0].n).toBe(0);
  });

  it("trainingMetric: valid_rmse of the run, null without a run", async () => {
    expect(await trainingMetric(registry, runId)).toEqual({
      metric: "valid_rmse",
      rmse: trained.metrics.valid_rmse,
    });
    expect(await trainingMetric(registry, undefined)).toBeNull();
    expect(await trainingMetric(registry, "0123456789abcdef0123456789abcdef")).toBeNull();
  });

  /** A copy of the bundle with its MLmodel's mldeploy.training changed by `edit`. */
  function editedBundle(
    edit: (training: Record<string, unknown>) => Record<string, unknown> | undefined,
  ): LocalModel {
    const dir = path.join(tempDir(), "bundle");
    cpSync(model.path, dir, { recursive: true, dereference: true });
    const file = path.join(dir, "MLmodel");
    const doc = parseYaml(readFileSync(file, "utf8")) as {
      mldeploy: Record<string, unknown>;
      run_id?: string;
    };
    const training = edit({ ...(doc.mldeploy.training as Record<string, unknown>) });
    if (training === undefined) delete doc.mldeploy.training;
    else doc.mldeploy.training = training;
    delete doc.run_id;
    writeFileSync(file, stringifyYaml(doc));
    return { path: dir, name: "imported", version: "3", movable: false };
  }

  it("a model without training data on record: a UserError pointing at the other references", async () => {
    const imported = editedBundle(() => undefined);
    const error = await loadTrainingReference(ctx(), {
      table: "none",
      registry,
      model: imported,
      columns: monitoredColumns(info),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(
      /model imported version 3 has no training data on record/,
    );
    expect((error as Error).message).toMatch(/--reference-from\/--reference-to.*--reference <file/);
  });

  it("a training file that is not there: a UserError naming it", async () => {
    const moved = editedBundle((t) => ({ ...t, train_data: "/nowhere/green_2021-01.parquet" }));
    await expect(
      loadTrainingReference(ctx(), {
        table: "moved",
        registry,
        model: moved,
        columns: monitoredColumns(info),
      }),
    ).rejects.toThrow(/\/nowhere\/green_2021-01\.parquet, is not there.*--reference-from/);
  });
});
