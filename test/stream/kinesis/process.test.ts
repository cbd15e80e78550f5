import { collectPredictions, rideEventLines, startStreamProcess } from "../helpers/processes.js";
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openKinesisSink, openKinesisSource } from "../../../src/stream/kinesis/index.js";
import type { StreamSource } from "../../../src/stream/types.js";
import { KINESALITE_AWS_ENV } from "../../helpers/kinesalite.js";
import { runCli } from "../../helpers/cli.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { kinesisFixture, uniqueName } from "./helpers.js";

const fixture = kinesisFixture();
const EVENTS = 4000;
let bundle: string;
let env: NodeJS.ProcessEnv;
const opened: StreamSource[] = [];

beforeAll(async () => {
  bundle = await rideBundlePath();
  // The consumers keep their checkpoints in the default place: <MLDEPLOY_DATA_DIR>/kinesis-checkpoints.db.
  env = {
    ...KINESALITE_AWS_ENV,
    MLDEPLOY_DATA_DIR: path.join(tempDir(), "data"),
    AWS_ENDPOINT_URL_KINESIS: fixture.server().endpoint,
  };
});
afterAll(async () => {
  for (const source of opened) await source.close();
});

/** URLs as a user writes them: the endpoint comes from AWS_ENDPOINT_URL_KINESIS. */
const url = (stream: string, query = "") => `kinesis://${stream}${query}`;

/** The predictions, read by a checking group whose checkpoints live elsewhere. */
async function predictionReader(stream: string): Promise<StreamSource> {
  const source = openKinesisSource(fixture.url(stream), { group: "check", consumer: "check" });
  opened.push(source);
  await source.open();
  return source;
}

const collect = collectPredictions;

const startConsumer = (input: string, output: string) =>
  startStreamProcess({
    model: bundle,
    source: url(input, "?lease_ms=1500&poll_ms=20"),
    sink: url(output),
    batchSize: 100,
    env,
  });

const rides = rideEventLines;

/**
 * Creates the input stream (4 shards) with `mldeploy produce` and the prediction stream (2
 * shards), then publishes `count` rides in batches of 100 every 50 ms in the background, so that consumers
 * are mid-stream when they die.
 */
async function produce(stream: string, count: number): Promise<Promise<void>> {
  const created = await runCli(["produce", "--to", url(stream, "?create=true&shards=4")], {
    env,
    input: rides(0, 100),
  });
  expect(created.status, created.stderr).toBe(0);
  expect(created.stderr).toMatch(new RegExp(`published 100 events to kinesis://${stream}`));
  const predictions = openKinesisSink(fixture.url(`${stream}_preds`, { create: true, shards: 2 }));
  await predictions.open();
  await predictions.close();
  const sink = openKinesisSink(fixture.url(stream));
  await sink.open();
  return (async () => {
    try {
      for (let from = 100; from < count; from += 100) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const lines = rides(from, Math.min(count, from + 100)).split("\n");
        await sink.publish(lines.map((line) => ({ data: new TextEncoder().encode(line) })));
      }
    } finally {
      await sink.close();
    }
  })();
}

describe("mldeploy stream as processes (Kinesis, kinesalite)", () => {
  it("loses nothing when a consumer is killed with -9: the group finishes the work", async () => {
    const stream = uniqueName("rides");
    const producing = await produce(stream, EVENTS);
    const output = await predictionReader(`${stream}_preds`);
    const predicted = new Map<number, number>();

    const first = startConsumer(stream, `${stream}_preds`);
    await collect(output, predicted, 500);
    first.child.kill("SIGKILL");
    await first.exited;
    expect(predicted.size).toBeGreaterThanOrEqual(500);
    expect(predicted.size).toBeLessThan(EVENTS);
    expect(existsSync(path.join(env.MLDEPLOY_DATA_DIR!, "kinesis-checkpoints.db"))).toBe(true);

    // Two consumers in the same group take over the dead one's shards once its leases expire
    // (1.5 s) and resume after its checkpoints; duplicates only from its last batches.
    const second = startConsumer(stream, `${stream}_preds`);
    const third = startConsumer(stream, `${stream}_preds`);
    try {
      await collect(output, predicted, EVENTS, 45_000);
    } finally {
      second.child.kill("SIGTERM");
      third.child.kill("SIGTERM");
    }
    expect(await second.exited).toBe(0);
    expect(await third.exited).toBe(0);
    await producing;
    expect(predicted.size).toBe(EVENTS);
    const duplicates = [...predicted.values()].filter((n) => n > 1).length;
    // At most what the killed consumer had read ahead and not checkpointed: a batch per shard.
    expect(duplicates).toBeLessThanOrEqual(400);
  });

  it("SIGTERM acknowledges the batch in progress and releases the leases: no duplicate", async () => {
    const stream = uniqueName("rides2");
    const producing = await produce(stream, 3000);
    const output = await predictionReader(`${stream}_preds`);
    const seen = new Map<number, number>();
    const first = startConsumer(stream, `${stream}_preds`);
    await collect(output, seen, 300);
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const started = Date.now();
    const second = startConsumer(stream, `${stream}_preds`);
    try {
      await collect(output, seen, 3000, 45_000);
    } finally {
      second.child.kill("SIGTERM");
    }
    expect(await second.exited).toBe(0);
    await producing;
    expect(seen.size).toBe(3000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Released leases are taken at once, not after lease_ms expiry.
    expect(Date.now() - started).toBeLessThan(20_000);

    // `mldeploy consume` peeks at the predictions in its own group.
    const peek = await runCli(["consume", "--from", url(`${stream}_preds`), "--limit", "3"], {
      env,
    });
    expect(peek.status, peek.stderr).toBe(0);
    const lines = peek.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(JSON.parse(line)).toMatchObject({
        model: "ride_duration_prediction_model",
        prediction: { ride_duration: expect.any(Number), ride_id: expect.any(Number) },
      });
    }
  });
});
