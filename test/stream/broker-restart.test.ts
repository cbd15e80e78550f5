import { collectPredictions, rideEventLines, startStreamProcess } from "./helpers/processes.js";
import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { openRedisSource } from "../../src/stream/redis/index.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import type { StreamSource } from "../../src/stream/types.js";
import { useKinesaliteEnv } from "../helpers/kinesalite.js";
import { PG_URL, postgresReachable } from "../registry/store/helpers.js";
import {
  haveKafkaMock,
  haveNats,
  haveRedis,
  privateKafkaMock,
  privateKinesalite,
  privateNats,
  privateRedis,
  type PrivateBroker,
} from "./private-brokers.js";

const BEFORE = 3000;
const AFTER = 1000;
const encoder = new TextEncoder();

/** Ride events with ids from … from + count - 1, as messages to publish. */
const rides = (from: number, count: number) =>
  rideEventLines(from, from + count)
    .split("\n")
    .map((line) => ({ data: encoder.encode(line) }));

const collect = collectPredictions;

/** Well under the Redis takeover time (30 s); runs take 2–5 s. */
const AFTER_RESTART_MS = 20_000;
/**
 * Kinesis has no such bound (leases of 2 s here) but reads by polling, which a loaded machine
 * slows down most (55 s for the last events in one full-suite run at load 20 on 2 cores).
 */
const KINESIS_AFTER_RESTART_MS = 60_000;

interface BrokerCase {
  name: string;
  available: boolean;
  start: () => Promise<PrivateBroker>;
  /** The consumer's --source: how fast lost deliveries come back. */
  consumerSource: (url: string) => string;
  /** The test's reader of the predictions (its own deliveries can be lost in the restart too). */
  checker: (url: string) => Promise<StreamSource>;
  /**
   * The consumer's reads fail for certain during the restart, so its log must say so once and
   * say when they work again (Kinesis shard reads retry quietly; kafkajs reconnects by itself).
   */
  logsOutage: boolean;
  /** How long the events published after the restart may take to get their predictions. */
  afterRestartMs?: number;
}

const CASES: BrokerCase[] = [
  {
    name: "NATS JetStream",
    available: haveNats,
    start: privateNats,
    // Events whose delivery or ack got lost come back after the ack wait: 2 s here, not 30.
    consumerSource: (url) => `${url}?ack_wait_ms=2000`,
    checker: (url) =>
      openStreamSource(`${url}?ack_wait_ms=1000`, { group: "check", consumer: "check" }),
    logsOutage: true,
  },
  {
    name: "Redis Streams",
    available: haveRedis,
    start: privateRedis,
    // The default 30 s takeover time: the source must find its own lost deliveries by itself
    // (a batch left waiting for XAUTOCLAIM would miss AFTER_RESTART_MS).
    consumerSource: (url) => url,
    checker: async (url) =>
      openRedisSource(url, { group: "check", consumer: "check", claimIdleMs: 1000 }),
    // ioredis holds commands through a short restart and sends them on reconnecting.
    logsOutage: false,
  },
  {
    name: "Kinesis (kinesalite)",
    available: true,
    start: async () => {
      useKinesaliteEnv();
      return privateKinesalite();
    },
    consumerSource: (url) => `${url}&lease_ms=2000&poll_ms=20`,
    checker: (url) =>
      openStreamSource(`${url}&poll_ms=20&checkpoints=sqlite:${path.join(tempDir(), "check.db")}`, {
        group: "check",
        consumer: "check",
      }),
    logsOutage: false,
    afterRestartMs: KINESIS_AFTER_RESTART_MS,
  },
  {
    name: "Kafka (librdkafka mock cluster)",
    available: haveKafkaMock,
    start: () => privateKafkaMock(["rides", "predictions"]),
    consumerSource: (url) => url,
    checker: (url) => openStreamSource(url, { group: "check", consumer: "check" }),
    logsOutage: false,
  },
];

describe.each(CASES)("mldeploy stream across a $name restart", (broker) => {
  it.skipIf(!broker.available)(
    "goes on after the broker is restarted mid-stream: every event ends with a prediction",
    async () => {
      const server = await broker.start();
      const bundle = await rideBundlePath();
      const input = await openStreamSink(server.url("rides"));
      await input.open();
      const output = await broker.checker(server.url("predictions"));
      await output.open();
      // Small batches, so the restart lands while most events still wait.
      const {
        child: consumer,
        exited,
        stderr,
        logs,
      } = startStreamProcess({
        model: bundle,
        source: broker.consumerSource(server.url("rides")),
        sink: server.url("predictions"),
        batchSize: 20,
        env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") },
      });
      const seen = new Map<number, number>();
      try {
        await input.publish(rides(0, BEFORE));
        await collect(output, seen, 200, 30_000);
        expect(seen.size, stderr()).toBeGreaterThanOrEqual(200);

        await server.restart();
        expect(consumer.exitCode, stderr()).toBeNull();

        // The sink retries on its own across the restart; publish once it is back.
        await input.publish(rides(BEFORE, AFTER));
        await collect(output, seen, BEFORE + AFTER, broker.afterRestartMs ?? AFTER_RESTART_MS);
        expect(consumer.exitCode, stderr()).toBeNull();
        expect(seen.size, stderr()).toBe(BEFORE + AFTER);
        for (let i = 0; i < BEFORE + AFTER; i++) expect(seen.has(i)).toBe(true);
        if (broker.logsOutage) {
          // One warning when the outage starts and one line when it is over, not one per retry.
          expect(logs()).toMatch(/: read failed \(.*\); retrying with backoff/);
          expect(logs()).toMatch(/: read works again after \d+ ms/);
        }
      } finally {
        consumer.kill("SIGTERM");
        await exited;
        await output.close();
        await input.close();
        await server.stop();
      }
    },
    120_000,
  );
});

describe("mldeploy stream with Kinesis checkpoints on PostgreSQL whose connections are cut", () => {
  it("goes on when the checkpoint store's backends are terminated mid-stream: every event ends with a prediction", async (context) => {
    if (!(await postgresReachable())) context.skip(`no PostgreSQL at ${PG_URL}`);
    useKinesaliteEnv();
    const server = await privateKinesalite();
    const tag = randomBytes(5).toString("hex");
    const schema = `mldeploy_test_ck_${tag}`;
    // Only the consumer's own connections carry this name: the test cuts those and no other.
    const application = `mldeploy_ck_${tag}`;
    const checkpoints = `${PG_URL}?schema=${schema}&application_name=${application}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const terminate = async (): Promise<number> =>
      (
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [application],
        )
      ).rowCount ?? 0;
    const bundle = await rideBundlePath();
    const input = await openStreamSink(server.url("rides"));
    await input.open();
    const output = await openStreamSource(
      `${server.url("predictions")}&poll_ms=20&checkpoints=sqlite:${path.join(tempDir(), "check.db")}`,
      { group: "check", consumer: "check" },
    );
    await output.open();
    const {
      child: consumer,
      exited,
      stderr,
    } = startStreamProcess({
      model: bundle,
      source: `${server.url("rides")}&lease_ms=2000&poll_ms=20&checkpoints=${encodeURIComponent(checkpoints)}`,
      sink: server.url("predictions"),
      batchSize: 20,
      env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") },
    });
    const seen = new Map<number, number>();
    let cutting = true;
    let terminated = 0;
    try {
      await input.publish(rides(0, BEFORE));
      await collect(output, seen, 200, 30_000);
      expect(seen.size, stderr()).toBeGreaterThanOrEqual(200);

      // Cut every connection of the store again and again while the consumer checkpoints
      // batch after batch: idle pooled ones and ones in the middle of a checkpoint write.
      const cuts = (async () => {
        while (cutting) {
          terminated += await terminate();
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
      })();
      try {
        await input.publish(rides(BEFORE, AFTER));
        await collect(output, seen, BEFORE + AFTER, KINESIS_AFTER_RESTART_MS);
      } finally {
        cutting = false;
        await cuts;
      }
      expect(consumer.exitCode, stderr()).toBeNull();
      expect(terminated, stderr()).toBeGreaterThan(3);
      expect(seen.size, stderr()).toBe(BEFORE + AFTER);
      for (let i = 0; i < BEFORE + AFTER; i++) expect(seen.has(i)).toBe(true);

      // The store works again: the checkpoint reaches the end of the shard.
      const progress = async () =>
        (
          await admin.query<{ checkpoint: string | null }>(
            `SELECT checkpoint FROM "${schema}".mldeploy_kinesis_leases`,
          )
        ).rows;
      const rows = await progress();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.checkpoint !== null)).toBe(true);
    } finally {
      cutting = false;
      consumer.kill("SIGTERM");
      await exited;
      await output.close();
      await input.close();
      await server.stop();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await admin.end();
    }
  }, 120_000);
});
