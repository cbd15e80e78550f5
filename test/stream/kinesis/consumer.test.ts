import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log/logger.js";
import { loadPredictor } from "../../../src/model/predictor.js";
import type { Predictor } from "../../../src/model/types.js";
import { runConsumer } from "../../../src/stream/consumer.js";
import { openStreamSink, openStreamSource } from "../../../src/stream/endpoints.js";
import { ORIGINAL_FORMAT } from "../../../src/stream/events.js";
import type { StreamSource } from "../../../src/stream/types.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { NO_POSTGRES, PG_URL, postgresReachable } from "../../registry/store/helpers.js";
import { dec, enc, kinesisFixture, readN, uniqueName } from "./helpers.js";

const fixture = kinesisFixture();

const ride = (i: number) => ({
  PULocationID: 1 + ((i * 37) % 265),
  DOLocationID: 1 + ((i * 91) % 265),
  trip_distance: (i % 50) / 5,
});

let predictor: Predictor;
beforeAll(async () => {
  predictor = await loadPredictor(await rideBundlePath(), { version: "3" });
});
afterAll(async () => {
  await predictor?.close();
});

describe("the consumer loop over Kinesis (kinesalite, the real ride model)", () => {
  it("predicts every good event in the original format and dead-letters the bad ones", async () => {
    const names = {
      input: uniqueName("rides"),
      output: uniqueName("preds"),
      dead: uniqueName("dead"),
    };
    const url = (name: string) => fixture.url(name, { create: true, shards: 2 });
    const opened: Array<{ close(): Promise<void> }> = [];
    try {
      const input = await openStreamSink(url(names.input));
      const output = await openStreamSink(url(names.output));
      const dead = await openStreamSink(url(names.dead));
      const source = await openStreamSource(url(names.input), { group: "scorers", consumer: "c1" });
      opened.push(input, output, dead, source);
      for (const s of [input, output, dead, source]) await s.open();

      const good = Array.from({ length: 300 }, (_, i) => ({ ride: ride(i), ride_id: i }));
      const bad = [
        "not json",
        JSON.stringify({ ride_id: 1000 }),
        JSON.stringify({ ride: { ...ride(1), trip_distance: -4 }, ride_id: 1001 }),
      ];
      await input.publish([
        ...good.slice(0, 150).map((e) => ({ data: enc(JSON.stringify(e)) })),
        ...bad.map((text) => ({ data: enc(text) })),
        ...good.slice(150).map((e) => ({ data: enc(JSON.stringify(e)) })),
      ]);

      let done = 0;
      const stats = await runConsumer({
        source,
        sink: output,
        deadLetter: dead,
        predictor,
        format: ORIGINAL_FORMAT,
        batchSize: 100,
        maxWaitMs: 50,
        logger: silentLogger(),
        shouldStop: () => done >= good.length + bad.length,
        onBatch: (batch) => (done += batch.received),
      });
      expect(stats).toMatchObject({ received: 303, predicted: 300, deadLettered: 3 });

      const check = (name: string): Promise<StreamSource> =>
        openStreamSource(fixture.url(name), { group: "check", consumer: "check" });
      const predictions = await check(names.output);
      const letters = await check(names.dead);
      opened.push(predictions, letters);
      await predictions.open();
      await letters.open();
      const events = (await readN(predictions, 300)).map(
        (m) =>
          JSON.parse(dec(m)) as {
            model: string;
            version: string;
            prediction: { ride_duration: number; ride_id: number };
          },
      );
      expect(events).toHaveLength(300);
      const expected = await predictor.predictRecords(good.map((e) => e.ride));
      const byId = new Map(events.map((e) => [e.prediction.ride_id, e]));
      expect(byId.size).toBe(300);
      for (const [i] of good.entries()) {
        expect(byId.get(i)).toEqual({
          model: "ride_duration_prediction_model",
          version: "3",
          prediction: { ride_duration: expected.values[i], ride_id: i },
        });
      }
      const deadLetters = (await readN(letters, 3)).map(
        (m) => JSON.parse(dec(m)) as { error: string; payload: string; partition: string },
      );
      expect(deadLetters.map((d) => d.payload).sort()).toEqual([...bad].sort());
      const reasons = Object.fromEntries(deadLetters.map((d) => [d.payload, d.error]));
      expect(reasons["not json"]).toMatch(/not JSON/);
      expect(reasons[bad[1]]).toMatch(/field "ride" must be an object/);
      expect(reasons[bad[2]]).toMatch(/trip_distance/);
      expect(deadLetters.every((d) => /^shardId-\d+$/.test(d.partition))).toBe(true);

      // Everything was acknowledged: the group has nothing left after a restart.
      await source.close();
      const again = await openStreamSource(url(names.input), { group: "scorers", consumer: "c2" });
      opened.push(again);
      await again.open();
      expect(await again.read({ maxMessages: 10, maxWaitMs: 300 })).toEqual([]);
    } finally {
      for (const s of opened.reverse()) await s.close().catch(() => undefined);
    }
  });

  it("keeps checkpoints and leases in PostgreSQL with checkpoints=postgres://…", async (context) => {
    if (!(await postgresReachable())) {
      context.skip(NO_POSTGRES);
    }
    const schema = `mldeploy_test_${randomBytes(6).toString("hex")}`;
    const stream = uniqueName("pg");
    const url = fixture.url(stream, {
      create: true,
      shards: 2,
      lease_ms: 900,
      checkpoints: `${PG_URL}?schema=${schema}`,
    });
    const opened: Array<{ close(): Promise<void> }> = [];
    try {
      const out = await openStreamSink(url);
      opened.push(out);
      await out.open();
      await out.publish(
        Array.from({ length: 50 }, (_, i) => ({ data: enc(`m${i}`), key: `k${i}` })),
      );
      const first = await openStreamSource(url, { group: "g", consumer: "a" });
      opened.push(first);
      await first.open();
      const read = await readN(first, 30, { ack: true });
      expect(read).toHaveLength(30);
      await first.close();
      const second = await openStreamSource(url, { group: "g", consumer: "b" });
      opened.push(second);
      await second.open();
      const rest = await readN(second, 20, { timeoutMs: 5_000 });
      expect(new Set([...read, ...rest].map(dec)).size).toBe(50);
      expect(rest).toHaveLength(20);

      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      try {
        const rows = await admin.query<{ owner: string | null; checkpoint: string | null }>(
          `SELECT shard_id, owner, checkpoint FROM "${schema}".mldeploy_kinesis_leases ORDER BY shard_id`,
        );
        expect(rows.rows.map((r) => r.owner)).toEqual(["b", "b"]);
        expect(rows.rows.every((r) => r.checkpoint !== null)).toBe(true);
      } finally {
        await admin.end();
      }
    } finally {
      for (const s of opened.reverse()) await s.close().catch(() => undefined);
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
});
