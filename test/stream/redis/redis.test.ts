import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openRedisSink, openRedisSource } from "../../../src/stream/redis/index.js";
import type { StreamMessage, StreamSink, StreamSource } from "../../../src/stream/types.js";

/** The real Redis of the dev box; every test uses its own stream keys, deleted at the end. */
const REDIS = process.env.MLDEPLOY_TEST_REDIS ?? "redis://127.0.0.1:6379";
const RUN = randomUUID().slice(0, 8);

let admin: Redis;
const keys: string[] = [];
const opened: Array<StreamSource | StreamSink> = [];

function newKey(name: string): string {
  const key = `mldeploy-test:${RUN}:${name}`;
  keys.push(key);
  return key;
}

const urlOf = (key: string): string => `${REDIS}/${encodeURIComponent(key)}`;

async function source(
  key: string,
  group: string,
  consumer: string,
  claimIdleMs?: number,
): Promise<StreamSource> {
  const s = openRedisSource(urlOf(key), { group, consumer, claimIdleMs });
  opened.push(s);
  await s.open();
  return s;
}

async function sink(key: string, maxLen?: number): Promise<StreamSink> {
  const s = openRedisSink(urlOf(key), maxLen === undefined ? undefined : { maxLen });
  opened.push(s);
  await s.open();
  return s;
}

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const dec = (m: StreamMessage): string => new TextDecoder().decode(m.data);

async function publishTexts(to: StreamSink, texts: string[]): Promise<void> {
  await to.publish(texts.map((t) => ({ data: enc(t) })));
}

/** Reads until `n` messages arrived or the deadline passed. */
async function readN(from: StreamSource, n: number, timeoutMs = 3_000): Promise<StreamMessage[]> {
  const got: StreamMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < n && Date.now() < deadline) {
    got.push(...(await from.read({ maxMessages: n - got.length, maxWaitMs: 100 })));
  }
  return got;
}

beforeAll(async () => {
  admin = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe("Redis Streams transport", () => {
  it("round-trips 1,000 messages in order, in batches, bytes intact", async () => {
    const key = newKey("roundtrip");
    const out = await sink(key);
    const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ ride_id: i, n: "é✓" }));
    for (let i = 0; i < texts.length; i += 250) await publishTexts(out, texts.slice(i, i + 250));
    // Binary payloads keep every byte (read in Buffer mode, not as UTF-8 strings).
    const binary = Uint8Array.from([0, 255, 128, 10, 13, 0]);
    await out.publish([{ data: binary, key: "k1" }]);

    const input = await source(key, "g", "c1");
    const got: StreamMessage[] = [];
    let batches = 0;
    while (got.length < 1001) {
      const batch = await input.read({ maxMessages: 128, maxWaitMs: 200 });
      expect(batch.length).toBeLessThanOrEqual(128);
      if (batch.length === 0) break;
      batches++;
      got.push(...batch);
      await input.ack(batch);
    }
    expect(batches).toBe(8);
    expect(got.slice(0, 1000).map(dec)).toEqual(texts);
    expect(Array.from(got[1000].data)).toEqual(Array.from(binary));
    expect(got.every((m) => m.deliveries === 1 && m.partition === undefined)).toBe(true);
    // Positions are the entry ids, increasing.
    const ids = got.map((m) => m.position);
    expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    expect(await admin.xlen(key)).toBe(1001);
    expect(await admin.xpending(key, "g")).toEqual([0, null, null, null]);
  });

  it("reads events published before the group existed (group starts at 0)", async () => {
    const key = newKey("before");
    await publishTexts(await sink(key), ["early"]);
    const input = await source(key, "late-group", "c1");
    expect((await readN(input, 1)).map(dec)).toEqual(["early"]);
  });

  it("hands a dead consumer's unacked messages to another (XAUTOCLAIM), never acked ones", async () => {
    const key = newKey("reclaim");
    await publishTexts(
      await sink(key),
      ["a", "b", "c", "d"].map((x) => x),
    );
    const first = await source(key, "g", "doomed", 200);
    const read1 = await readN(first, 4);
    expect(read1.map(dec)).toEqual(["a", "b", "c", "d"]);
    await first.ack(read1.slice(0, 2)); // a, b done; c, d in flight when it "dies"
    await first.close();

    const second = await source(key, "g", "heir", 200);
    const started = Date.now();
    const taken = await readN(second, 2, 3_000);
    expect(taken.map(dec)).toEqual(["c", "d"]);
    expect(taken.every((m) => (m.deliveries ?? 0) >= 2)).toBe(true);
    expect(taken.map((m) => m.position)).toEqual(read1.slice(2).map((m) => m.position));
    expect(Date.now() - started).toBeLessThan(2_000);
    await second.ack(taken);

    // Nothing comes back, not even after the idle time passed again.
    await new Promise((r) => setTimeout(r, 300));
    expect(await second.read({ maxMessages: 10, maxWaitMs: 100 })).toEqual([]);
    expect(await admin.xpending(key, "g")).toEqual([0, null, null, null]);
  });

  it("counts deliveries up on each takeover", async () => {
    const key = newKey("deliveries");
    await publishTexts(await sink(key), ["x"]);
    const a = await source(key, "g", "a", 100);
    expect((await readN(a, 1))[0].deliveries).toBe(1);
    const b = await source(key, "g", "b", 100);
    await new Promise((r) => setTimeout(r, 150));
    expect((await readN(b, 1))[0].deliveries).toBe(2);
    await new Promise((r) => setTimeout(r, 150));
    const again = await readN(a, 1);
    expect(again.map(dec)).toEqual(["x"]);
    expect(again[0].deliveries).toBe(3);
  });

  it("shares a group's messages between consumers, each to exactly one", async () => {
    const key = newKey("share");
    const out = await sink(key);
    const texts = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const a = await source(key, "g", "a");
    const b = await source(key, "g", "b");
    const seen = { a: [] as string[], b: [] as string[] };
    const consume = async (name: "a" | "b", s: StreamSource): Promise<void> => {
      const deadline = Date.now() + 4_000;
      while (seen.a.length + seen.b.length < texts.length && Date.now() < deadline) {
        const batch = await s.read({ maxMessages: 10, maxWaitMs: 50 });
        seen[name].push(...batch.map(dec));
        await s.ack(batch);
        // Yield, so that the other consumer gets its turn at the stream.
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    const consuming = Promise.all([consume("a", a), consume("b", b)]);
    for (let i = 0; i < texts.length; i += 20) await publishTexts(out, texts.slice(i, i + 20));
    await consuming;
    expect(seen.a.length).toBeGreaterThan(0);
    expect(seen.b.length).toBeGreaterThan(0);
    expect([...seen.a, ...seen.b].sort()).toEqual([...texts].sort());
  });

  it("delivers a foreign entry without the data field as the JSON of its fields", async () => {
    const key = newKey("foreign");
    await admin.xadd(key, "*", "ride_id", "7", "note", "no payload field");
    const input = await source(key, "g", "c");
    const [message] = await readN(input, 1);
    expect(JSON.parse(dec(message))).toEqual({ ride_id: "7", note: "no payload field" });
    expect(message.deliveries).toBe(1);
  });

  it.each([50, 500])("returns [] from an empty stream after about %i ms", async (maxWaitMs) => {
    const key = newKey(`empty${maxWaitMs}`);
    const input = await source(key, "g", "c");
    const started = performance.now();
    expect(await input.read({ maxMessages: 10, maxWaitMs })).toEqual([]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(maxWaitMs - 5);
    expect(took).toBeLessThan(maxWaitMs + 250);
  });

  it("returns a message published during a blocking read at once", async () => {
    const key = newKey("wake");
    const input = await source(key, "g", "c");
    const out = await sink(key);
    const started = Date.now();
    const reading = input.read({ maxMessages: 10, maxWaitMs: 3_000 });
    await new Promise((r) => setTimeout(r, 50));
    await publishTexts(out, ["hello"]);
    expect((await reading).map(dec)).toEqual(["hello"]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("acks while a blocking read is running (separate connection)", async () => {
    const key = newKey("ackwhileblocked");
    const out = await sink(key);
    await publishTexts(out, ["one"]);
    const input = await source(key, "g", "c");
    const batch = await readN(input, 1);
    const reading = input.read({ maxMessages: 10, maxWaitMs: 1_000 });
    const started = Date.now();
    await input.ack(batch);
    expect(Date.now() - started).toBeLessThan(300);
    expect(await reading).toEqual([]);
  });

  it("caps the stream with maxLen (approximate trimming)", async () => {
    const key = newKey("maxlen");
    const out = await sink(key, 100);
    for (let i = 0; i < 10; i++) {
      await publishTexts(
        out,
        Array.from({ length: 100 }, (_, j) => `${i}-${j}`),
      );
    }
    const len = await admin.xlen(key);
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(300);
  });

  it("survives a dropped connection and a Redis that lost the stream and group", async () => {
    const key = newKey("restart");
    const out = await sink(key);
    const consumer = `c-${randomUUID().slice(0, 6)}`;
    const input = await source(key, "g", consumer);
    await publishTexts(out, ["before"]);
    await input.ack(await readN(input, 1));

    // Kill this consumer's connections server-side, as a restart would.
    const clients = await admin.client("LIST");
    const ids = String(clients)
      .split("\n")
      .filter((line) => line.includes(`name=mldeploy:g:${consumer}:`))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
    expect(ids).toHaveLength(2);
    for (const id of ids) await admin.client("KILL", "ID", String(id));
    // And lose the data, as this Redis (no persistence) does on restart.
    await admin.del(key);

    await publishTexts(out, ["after"]);
    expect((await readN(input, 1, 5_000)).map(dec)).toEqual(["after"]);
  });

  it("fails open() quickly when Redis is unreachable, without the password", async () => {
    const s = openRedisSource("redis://:hunter2@127.0.0.1:1/x", { group: "g", consumer: "c" });
    const started = Date.now();
    const error = await s.open().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/cannot connect to redis:\/\/127\.0\.0\.1:1\/x/);
    expect((error as Error).message).not.toContain("hunter2");
    expect(s.description).not.toContain("hunter2");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("close() ends a running read with what it has and makes later reads return []", async () => {
    const key = newKey("close");
    const input = await source(key, "g", "c");
    const reading = input.read({ maxMessages: 10, maxWaitMs: 500 });
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await input.close();
    expect(await reading).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await input.read({ maxMessages: 10, maxWaitMs: 500 })).toEqual([]);
  });
});
