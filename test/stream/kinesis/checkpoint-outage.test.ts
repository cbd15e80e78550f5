import { randomBytes } from "node:crypto";
import net from "node:net";
import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { openStreamSink, openStreamSource } from "../../../src/stream/endpoints.js";
import type { StreamSource } from "../../../src/stream/types.js";
import { NO_POSTGRES, PG_URL, postgresReachable } from "../../registry/store/helpers.js";
import { enc, kinesisFixture, readN, uniqueName } from "./helpers.js";

const fixture = kinesisFixture();

/**
 * A TCP relay to the test PostgreSQL that can go silent the way a lost network path or a
 * host that rebooted does: freeze() stops relaying on every open connection without closing
 * it (no FIN, no RST: the client's socket stays "connected" and its query waits for an
 * answer that never comes); connections made while frozen are held the same way. thaw()
 * lets new connections through again; the frozen ones stay dead, as half-open ones do.
 */
async function silentRelay(target: URL): Promise<{
  port: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}> {
  let frozen = false;
  const pairs = new Set<{ client: net.Socket; upstream?: net.Socket }>();
  const server = net.createServer((client) => {
    const pair: { client: net.Socket; upstream?: net.Socket } = { client };
    pairs.add(pair);
    client.on("error", () => undefined);
    if (frozen) return; // accepted, never answered
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    pair.upstream = upstream;
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    freeze() {
      frozen = true;
      for (const { client, upstream } of pairs) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    thaw() {
      frozen = false;
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream?.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

describe("Kinesis checkpoints on PostgreSQL behind a connection that goes silent", () => {
  it("gives up on a checkpoint write that gets no answer and writes it over a new connection", async (context) => {
    if (!(await postgresReachable())) context.skip(NO_POSTGRES);
    const pgUrl = new URL(PG_URL);
    const relay = await silentRelay(pgUrl);
    cleanups.push(() => relay.close());
    const schema = `mldeploy_test_silent_${randomBytes(5).toString("hex")}`;
    cleanups.push(async () => {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    });
    const through = new URL(PG_URL);
    through.hostname = "127.0.0.1";
    through.port = String(relay.port);
    through.searchParams.set("schema", schema);

    const stream = uniqueName("silent");
    const url = fixture.url(stream, { create: true, checkpoints: through.toString() });
    const input = await openStreamSink(url);
    cleanups.push(() => input.close());
    await input.open();
    await input.publish(Array.from({ length: 20 }, (_, i) => ({ data: enc(`m${i}`) })));
    const lines: Array<{ msg: string; level: number }> = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split("\n").filter(Boolean)) {
            lines.push(JSON.parse(line) as { msg: string; level: number });
          }
          done();
        },
      }),
    );
    const source: StreamSource = await openStreamSource(url, {
      group: "g",
      consumer: "c",
      logger,
    });
    cleanups.push(() => source.close());
    await source.open();
    expect(await readN(source, 10, { ack: true })).toHaveLength(10);

    relay.freeze();
    const rest = await readN(source, 10, { ack: false });
    expect(rest).toHaveLength(10);
    const acked = source.ack(rest).then(() => Date.now());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    relay.thaw();
    const thawed = Date.now();
    // Without a deadline on its queries, the store waited on the silent connection for good.
    const done = await Promise.race([
      acked,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 40_000)),
    ]);
    expect(done, "the checkpoint write never finished").toBeDefined();
    expect(done! - thawed).toBeLessThan(30_000);
    // The operator is told once that writes fail and once that they work again.
    const told = lines.map((line) => line.msg).filter((msg) => msg.includes("checkpoint write"));
    expect(told[0]).toMatch(
      /checkpoint write failed \(Query read timeout\); retrying with backoff/,
    );
    expect(told.at(-1)).toMatch(
      /checkpoint write works again after \d+ ms \(\d+ failed attempts\)/,
    );
    expect(told).toHaveLength(2);

    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      const rows = await admin.query<{ checkpoint: string }>(
        `SELECT checkpoint FROM "${schema}".mldeploy_kinesis_leases`,
      );
      expect(rows.rows.map((row) => row.checkpoint)).toEqual([rest[rest.length - 1].position]);
    } finally {
      await admin.end();
    }
  }, 60_000);
});
