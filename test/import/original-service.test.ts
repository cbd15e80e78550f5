import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  originalModels,
  originalServiceMissing,
  startOriginalService,
  type OriginalModels,
} from "../../src/bench/original-service.js";
import type { ServerProcess } from "../../src/bench/processes.js";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { openStreamSource } from "../../src/stream/endpoints.js";
import { runCli } from "../helpers/cli.js";
import { S3RVER_CREDENTIALS, startS3Server } from "../helpers/s3-server.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { startStreamProcess } from "../stream/helpers/processes.js";
import { streamUrl, uniqueStream } from "../stream/nats/helpers.js";

/**
 * The system mldeploy replaces, end to end: the course's Flask app under gunicorn serving its
 * two pickles — the web-service variant's (DictVectorizer, LinearRegression) lin_reg.bin and
 * the MLflow variant's Pipeline(DictVectorizer, RandomForestRegressor(max_depth=20,
 * n_estimators=100, min_samples_leaf=10)) in mlflow.sklearn's layout — trained by its own
 * script on the sample rides. The very same files are given to mldeploy, which serves,
 * batch-scores and stream-scores them without Python; every answer must be the Python
 * service's own answer for the same ride.
 */
const MISSING = await originalServiceMissing();
if (MISSING) console.warn(`original service tests skipped: ${MISSING}`);

const PU_DO = 'PU_DO=PULocationID + "_" + DOLocationID';
const IMPORT_OPTIONS = ["--feature", PU_DO, "--output", "duration"];
const ROOT = path.join(os.tmpdir(), "mldeploy-import-fixtures", "original-service-20000-17");

interface Ride {
  PULocationID: number;
  DOLocationID: number;
  trip_distance: number;
}

/** Rides seen in training, and pairs of zones it never saw (the vectorizer ignores them). */
function testRides(models: OriginalModels): Ride[] {
  const columns = JSON.parse(readFileSync(models.rides, "utf8")) as Record<string, number[]>;
  const rides: Ride[] = [];
  for (let i = 0; i < 150; i++) {
    const row = i * 97;
    rides.push({
      PULocationID: columns.PULocationID[row],
      DOLocationID: columns.DOLocationID[row],
      trip_distance: columns.trip_distance[row],
    });
  }
  rides.push({ PULocationID: 264, DOLocationID: 1, trip_distance: 3.5 });
  rides.push({ PULocationID: 1, DOLocationID: 1, trip_distance: 0 });
  rides.push({ PULocationID: 7, DOLocationID: 265, trip_distance: 42.25 });
  return rides;
}

/** A port nobody listens on now (gunicorn is given a port; it cannot report one it picked). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function predictEach(url: string, rides: Ride[]): Promise<number[]> {
  const answers: number[] = [];
  for (const ride of rides) {
    const response = await fetch(`${url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ride),
    });
    expect(response.status).toBe(200);
    answers.push(((await response.json()) as { duration: number }).duration);
  }
  return answers;
}

function expectSameAnswers(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]));
  }
  expect(worst).toBeLessThanOrEqual(1e-6);
}

describe.skipIf(MISSING !== undefined)(
  "the original service's models, deployed by mldeploy",
  () => {
    let models: OriginalModels;
    let rides: Ride[];
    const python = new Map<string, number[]>();
    const servers: Array<ServerProcess | ServeProcess> = [];
    const env = { MLDEPLOY_DATA_DIR: path.join(tempDir(), "data") };

    beforeAll(async () => {
      models = await originalModels(ROOT, 20_000, 17);
      rides = testRides(models);
      // The Python service's answers, one ride per request as its clients sent them.
      for (const [name, file] of [
        ["linear", models.linear],
        ["forest", models.forestPickle],
      ] as const) {
        const service = await startOriginalService(file, await freePort(), 1);
        try {
          python.set(name, await predictEach(service.url, rides));
        } finally {
          await service.stop();
        }
      }
    }, 300_000);

    afterAll(async () => {
      for (const server of servers) {
        if ("stop" in server) await server.stop();
        else {
          server.kill();
          await server.exited;
        }
      }
    });

    it.each([["linear"], ["forest"]] as const)(
      "mldeploy serve %s answers POST /predict as the Flask service does",
      async (name) => {
        const source = name === "linear" ? models.linear : models.forestDir;
        const server = await startServeProcess([source, ...IMPORT_OPTIONS, "--port", "0"], { env });
        servers.push(server);
        const answers = await predictEach(server.url, rides);
        expectSameAnswers(answers, python.get(name)!);
        // The answers differ from ride to ride: a constant would not pass.
        expect(new Set(answers.map((a) => a.toFixed(6))).size).toBeGreaterThan(100);
      },
    );

    it("mldeploy serve s3://…/1/<run_id>/artifacts/model and models:/…@production registered from it serve the MLflow variant, from objects a plain S3 client put", async () => {
      const s3 = await startS3Server(["mlflow-models"]);
      const client = new S3Client({
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: {
          accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID,
          secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
        },
      });
      try {
        // As `aws s3 cp --recursive` or MLflow's own upload leaves it: no mldeploy manifest.
        const prefix = "1/6b2f1c9a4d3e4f5a8b7c6d5e4f3a2b1c/artifacts/model";
        for (const name of readdirSync(models.forestDir)) {
          await client.send(
            new PutObjectCommand({
              Bucket: "mlflow-models",
              Key: `${prefix}/${name}`,
              Body: readFileSync(path.join(models.forestDir, name)),
            }),
          );
        }
        const s3Env = {
          ...S3RVER_CREDENTIALS,
          MLDEPLOY_S3_ENDPOINT: s3.endpoint,
          MLDEPLOY_DATA_DIR: path.join(tempDir(), "s3-data"),
        };
        const server = await startServeProcess(
          [`s3://mlflow-models/${prefix}`, ...IMPORT_OPTIONS, "--port", "0"],
          { env: s3Env },
        );
        servers.push(server);
        expectSameAnswers(await predictEach(server.url, rides), python.get("forest")!);

        // Registered as it is (the registry keeps the MLflow model, not a conversion) and served
        // through an alias, as a team whose registry points at MLflow's artifacts does.
        const registered = await runCli(
          ["models", "register", "ride-duration", `s3://mlflow-models/${prefix}`],
          { env: s3Env },
        );
        expect(registered.status, registered.stderr).toBe(0);
        const aliased = await runCli(["models", "alias", "ride-duration", "production", "1"], {
          env: s3Env,
        });
        expect(aliased.status, aliased.stderr).toBe(0);
        const byAlias = await startServeProcess(
          ["models:/ride-duration@production", ...IMPORT_OPTIONS, "--port", "0"],
          { env: s3Env },
        );
        servers.push(byAlias);
        expectSameAnswers(await predictEach(byAlias.url, rides), python.get("forest")!);
      } finally {
        client.destroy();
        await s3.stop();
      }
    });

    it("mldeploy batch scores the MLflow variant's directory SQLite → SQLite with the service's answers", async () => {
      const db = path.join(tempDir(), "rides.db");
      const sqlite = new Database(db);
      sqlite.exec(
        "CREATE TABLE rides (ride_id INTEGER PRIMARY KEY, PULocationID INTEGER, DOLocationID INTEGER, trip_distance REAL)",
      );
      const insert = sqlite.prepare("INSERT INTO rides VALUES (?, ?, ?, ?)");
      rides.forEach((r, i) => insert.run(i, r.PULocationID, r.DOLocationID, r.trip_distance));
      sqlite.close();
      const result = await runCli(
        [
          "batch",
          "--model",
          models.forestDir,
          ...IMPORT_OPTIONS,
          "--source",
          `sqlite:${db}`,
          "--table",
          "rides",
          "--id-column",
          "ride_id",
          "--sink",
          `sqlite:${db}`,
          "--sink-table",
          "predictions",
        ],
        { env },
      );
      expect(result.status, result.stderr).toBe(0);
      const check = new Database(db, { readonly: true });
      const rows = check
        .prepare("SELECT ride_id, predicted_duration FROM predictions ORDER BY ride_id")
        .all() as Array<{ ride_id: number; predicted_duration: number }>;
      check.close();
      expect(rows.map((r) => r.ride_id)).toEqual(rides.map((_, i) => i));
      expectSameAnswers(
        rows.map((r) => r.predicted_duration),
        python.get("forest")!,
      );
    });

    it("mldeploy stream scores lin_reg.bin over NATS JetStream with the service's answers", async () => {
      const input = streamUrl(uniqueStream("orig_rides"));
      const output = streamUrl(uniqueStream("orig_preds"));
      const events = rides.map((ride, ride_id) => JSON.stringify({ ride, ride_id })).join("\n");
      const produced = await runCli(["produce", "--to", input], { env, input: events });
      expect(produced.status, produced.stderr).toBe(0);
      const consumer = startStreamProcess({
        model: models.linear,
        source: input,
        sink: output,
        batchSize: 50,
        env: { ...env, MLDEPLOY_FEATURE: PU_DO, MLDEPLOY_OUTPUT: "duration" },
      });
      const reader = await openStreamSource(output, { group: "check", consumer: "check" });
      await reader.open();
      const predicted = new Map<number, number>();
      try {
        const deadline = Date.now() + 60_000;
        while (predicted.size < rides.length && Date.now() < deadline) {
          const messages = await reader.read({ maxMessages: 500, maxWaitMs: 200 });
          for (const message of messages) {
            const event = JSON.parse(new TextDecoder().decode(message.data)) as {
              // The original Lambda format: {"prediction": {"ride_duration": …, "ride_id": …}}.
              prediction: { ride_duration: number; ride_id: number };
            };
            predicted.set(event.prediction.ride_id, event.prediction.ride_duration);
          }
          await reader.ack(messages);
        }
      } finally {
        consumer.child.kill("SIGTERM");
        await reader.close();
      }
      expect(await consumer.exited, consumer.stderr()).toBe(0);
      expectSameAnswers(
        rides.map((_, i) => predicted.get(i) ?? NaN),
        python.get("linear")!,
      );
    });

    it("the import cache holds each source once: the second command did not convert again", () => {
      expect(existsSync(path.join(env.MLDEPLOY_DATA_DIR, "import-cache"))).toBe(true);
    });
  },
);
