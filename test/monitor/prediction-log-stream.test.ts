import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import { openStreamSource } from "../../src/stream/endpoints.js";
import type { StreamSource } from "../../src/stream/types.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import {
  LABEL,
  TEXT_CLASSES as TEXT_LABELS,
  expectedFor,
  saveClassifierBundle,
  textLabel,
} from "../model/classifier-bundles.js";
import {
  collectPredictions,
  rideEventLines,
  startStreamProcess,
} from "../stream/helpers/processes.js";
import { streamUrl, uniqueStream } from "../stream/nats/helpers.js";

const EVENTS = 300;

describe("prediction log of mldeploy stream (NATS JetStream)", () => {
  let output: StreamSource | undefined;
  afterAll(async () => {
    await output?.close();
  });
  let bundle: string;
  beforeAll(async () => {
    bundle = await rideBundlePath();
  }, 60_000);

  it("logs every event it predicts, by ride_id, under <data-dir>/prediction-log", async () => {
    const dataDir = path.join(tempDir("mldeploy-predlog-stream-"), "data");
    // Settings by environment, as a container would set them; the directory is the default one.
    const env = {
      MLDEPLOY_DATA_DIR: dataDir,
      MLDEPLOY_LOG_PREDICTIONS: "true",
      MLDEPLOY_LOG_FLUSH_MS: "3600000",
    };
    const rides = streamUrl(uniqueStream("predlog-rides"));
    const preds = streamUrl(uniqueStream("predlog-preds"));
    const produced = await runCli(["produce", "--to", rides], {
      env,
      input: rideEventLines(0, EVENTS),
    });
    expect(produced.status, produced.stderr).toBe(0);
    output = await openStreamSource(preds, { group: "check", consumer: "check" });
    await output.open();
    const consumer = startStreamProcess({
      model: bundle,
      source: rides,
      sink: preds,
      batchSize: 50,
      env,
    });
    const seen = new Map<number, number>();
    try {
      await collectPredictions(output, seen, EVENTS, 30_000);
    } finally {
      consumer.child.kill("SIGTERM");
    }
    expect(await consumer.exited, consumer.stderr()).toBe(0);
    expect(seen.size).toBe(EVENTS);

    const read = await readPredictionLog({
      dir: path.join(dataDir, "prediction-log"),
      model: "ride-duration",
    });
    expect(read.skipped).toEqual([]);
    const byId = new Map(read.rows.map((row) => [Number(row.id), row]));
    expect(byId.size).toBe(EVENTS);
    for (const i of [0, 1, 150, EVENTS - 1]) {
      expect(byId.get(i)).toMatchObject({
        mode: "stream",
        model: "ride-duration",
        PULocationID: 1 + (i % 200),
        DOLocationID: 1 + ((i * 7) % 250),
        trip_distance: (i % 30) / 3,
      });
      expect(typeof byId.get(i)?.duration).toBe("number");
    }
  }, 60_000);

  it("logs a classifier's probabilities beside its label (the output stream gets the label)", async () => {
    const dataDir = path.join(tempDir("mldeploy-predlog-stream-class-"), "data");
    const env = {
      MLDEPLOY_DATA_DIR: dataDir,
      MLDEPLOY_LOG_PREDICTIONS: "true",
      MLDEPLOY_LOG_FLUSH_MS: "3600000",
    };
    const events = 60;
    const rides = streamUrl(uniqueStream("predlog-class-rides"));
    const preds = streamUrl(uniqueStream("predlog-class-preds"));
    const produced = await runCli(["produce", "--to", rides], {
      env,
      input: rideEventLines(0, events),
    });
    expect(produced.status, produced.stderr).toBe(0);
    const classified = await openStreamSource(preds, { group: "check", consumer: "check" });
    await classified.open();
    const consumer = startStreamProcess({
      model: await saveClassifierBundle(tempDir("mldeploy-class-bundle-"), "string"),
      source: rides,
      sink: preds,
      batchSize: 25,
      env,
    });
    const published: Array<Record<string, unknown>> = [];
    try {
      const deadline = Date.now() + 30_000;
      while (published.length < events && Date.now() < deadline) {
        for (const message of await classified.read({ maxMessages: 100, maxWaitMs: 500 })) {
          published.push(
            JSON.parse(Buffer.from(message.data).toString("utf8")) as Record<string, unknown>,
          );
          await classified.ack([message]);
        }
      }
    } finally {
      consumer.child.kill("SIGTERM");
      await classified.close();
    }
    expect(await consumer.exited, consumer.stderr()).toBe(0);
    expect(published).toHaveLength(events);
    const prediction = published[0].prediction as Record<string, unknown>;
    // The output stream's field is the stream's own (--prediction-field), holding the label.
    expect(TEXT_LABELS).toContain(prediction.ride_duration);
    expect(Object.keys(prediction).some((key) => key.startsWith("probabilit"))).toBe(false);

    const read = await readPredictionLog({
      dir: path.join(dataDir, "prediction-log"),
      model: "ride-class-string",
    });
    expect(read.rows).toHaveLength(events);
    for (const row of read.rows) {
      const distance = Number(row.trip_distance);
      const [long, short] = expectedFor(distance).probabilities;
      expect(row[LABEL]).toBe(textLabel(distance));
      expect(row.probability_long).toBeCloseTo(long, 12);
      expect(row.probability_short).toBeCloseTo(short, 12);
    }
  }, 60_000);
});
