import { spawn } from "node:child_process";
import path from "node:path";
import {
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  SplitShardCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { openKinesisSink, openKinesisSource } from "../../../src/stream/kinesis/index.js";
import type { KinesisSource } from "../../../src/stream/kinesis/source.js";
import type { StreamMessage, StreamSink } from "../../../src/stream/types.js";
import { dec, enc, eventually, kinesisFixture, readN, uniqueName } from "./helpers.js";

const fixture = kinesisFixture();
const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function sink(stream: string, shards = 1): Promise<StreamSink> {
  const s = openKinesisSink(fixture.url(stream, { create: true, shards }));
  opened.push(s);
  await s.open();
  return s;
}

async function source(
  stream: string,
  group: string,
  consumer: string,
  settings: Record<string, string | number> = {},
): Promise<KinesisSource> {
  const s = openKinesisSource(fixture.url(stream, settings), { group, consumer });
  opened.push(s);
  await s.open();
  return s;
}

function adminClient(): KinesisClient {
  return new KinesisClient({
    endpoint: fixture.server().endpoint,
    region: "us-east-1",
    requestHandler: new NodeHttpHandler(),
  });
}

describe("Kinesis transport (kinesalite)", () => {
  it("round-trips 1,000 messages over 4 shards: bytes intact, per-key order, shard and sequence", async () => {
    const stream = uniqueName("roundtrip");
    const out = await sink(stream, 4);
    const sent = Array.from({ length: 1000 }, (_, i) => ({
      key: `k${i % 10}`,
      text: JSON.stringify({ ride_id: i, n: "é✓" }),
    }));
    // 1,000 in one publish: two PutRecords calls of 500.
    await out.publish(sent.map((m) => ({ data: enc(m.text), key: m.key })));
    const binary = Uint8Array.from([0, 255, 128, 10, 13, 0]);
    await out.publish([{ data: binary }]);

    const input = await source(stream, "g", "c1");
    expect(input.ownedShards()).toHaveLength(4);
    const got: StreamMessage[] = [];
    const deadline = Date.now() + 10_000;
    while (got.length < 1001 && Date.now() < deadline) {
      const batch = await input.read({ maxMessages: 128, maxWaitMs: 200 });
      expect(batch.length).toBeLessThanOrEqual(128);
      got.push(...batch);
      await input.ack(batch);
    }
    expect(got).toHaveLength(1001);
    const texts = got.filter((m) => m.data.length !== binary.length).map(dec);
    expect(new Set(texts)).toEqual(new Set(sent.map((m) => m.text)));
    expect(got.some((m) => Array.from(m.data).join() === Array.from(binary).join())).toBe(true);
    // Per key, the order of publication; every message names its shard and sequence number.
    for (let k = 0; k < 10; k++) {
      const ofKey = texts
        .map((t) => JSON.parse(t) as { ride_id: number })
        .filter((e) => e.ride_id % 10 === k)
        .map((e) => e.ride_id);
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
    expect(new Set(got.map((m) => m.partition))).toEqual(new Set(input.ownedShards()));
    expect(got.every((m) => /^\d{20,}$/.test(m.position))).toBe(true);
    // kinesalite reports 0 ms behind for open shards; AWS the real MillisBehindLatest.
    expect(await input.lag()).toEqual({ behindMs: 0 });
    expect(await input.read({ maxMessages: 10, maxWaitMs: 100 })).toEqual([]);
  });

  it("resumes after the last acknowledged record, never past an unacknowledged one", async () => {
    const stream = uniqueName("resume");
    await (
      await sink(stream)
    ).publish(Array.from({ length: 10 }, (_, i) => ({ data: enc(`m${i}`) })));

    const first = await source(stream, "g", "first");
    const read = await readN(first, 10, { ack: false });
    expect(read.map(dec)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    // m0..m3 and m5 acknowledged; m4 not: the checkpoint stops at m3.
    await first.ack([...read.slice(0, 4), read[5]]);
    await first.close();

    const second = await source(stream, "g", "second");
    const again = await readN(second, 6);
    expect(again.map(dec)).toEqual(["m4", "m5", "m6", "m7", "m8", "m9"]);
    expect(again[0].position).toBe(read[4].position);
    await second.close();

    // All acknowledged now: a restart gets nothing; a new group starts at the oldest record.
    const third = await source(stream, "g", "third");
    expect(await third.read({ maxMessages: 10, maxWaitMs: 300 })).toEqual([]);
    const other = await source(stream, "other-group", "x");
    expect((await readN(other, 10)).map(dec)[0]).toBe("m0");
  });

  it("shares the shards of a group between two consumers: each record read once", async () => {
    const stream = uniqueName("share");
    const out = await sink(stream, 4);
    const settings = { lease_ms: 900 };
    const a = await source(stream, "g", "a", settings);
    expect(a.ownedShards()).toHaveLength(4);
    const b = await source(stream, "g", "b", settings);
    // b takes over one lease per round (every 300 ms) until each holds two.
    expect(
      await eventually(() => a.ownedShards().length === 2 && b.ownedShards().length === 2, 5_000),
    ).toBe(true);
    expect([...a.ownedShards(), ...b.ownedShards()].sort()).toHaveLength(4);
    expect(new Set([...a.ownedShards(), ...b.ownedShards()]).size).toBe(4);

    await out.publish(
      Array.from({ length: 400 }, (_, i) => ({ data: enc(String(i)), key: `key-${i}` })),
    );
    const seen = { a: [] as StreamMessage[], b: [] as StreamMessage[] };
    const deadline = Date.now() + 10_000;
    while (seen.a.length + seen.b.length < 400 && Date.now() < deadline) {
      const [fromA, fromB] = await Promise.all([
        a.read({ maxMessages: 100, maxWaitMs: 50 }),
        b.read({ maxMessages: 100, maxWaitMs: 50 }),
      ]);
      seen.a.push(...fromA);
      seen.b.push(...fromB);
      await Promise.all([a.ack(fromA), b.ack(fromB)]);
    }
    const all = [...seen.a, ...seen.b].map(dec);
    expect(all).toHaveLength(400);
    expect(new Set(all).size).toBe(400);
    expect(seen.a.length).toBeGreaterThan(0);
    expect(seen.b.length).toBeGreaterThan(0);
    expect(seen.a.every((m) => a.ownedShards().includes(m.partition!))).toBe(true);
    expect(seen.b.every((m) => b.ownedShards().includes(m.partition!))).toBe(true);
    // Nothing more, even after a few lease rounds.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await a.read({ maxMessages: 10, maxWaitMs: 50 })).toEqual([]);
    expect(await b.read({ maxMessages: 10, maxWaitMs: 50 })).toEqual([]);

    // A clean close releases the leases: the other takes them within a round, not lease_ms.
    await a.close();
    expect(await eventually(() => b.ownedShards().length === 4, 2_000)).toBe(true);
  });

  /**
   * A consumer in another process: reads all 20 records, acknowledges the first 12, then hangs
   * until killed. Resolves once it acknowledged; kill() is kill -9.
   */
  async function doomedConsumer(url: string) {
    const script = `
      const { openKinesisSource } = await import(${JSON.stringify(path.resolve("dist/stream/kinesis/index.js"))});
      const source = openKinesisSource(process.argv[1], { group: "g", consumer: "doomed" });
      await source.open();
      const got = [];
      while (got.length < 20) got.push(...(await source.read({ maxMessages: 20, maxWaitMs: 100 })));
      await source.ack(got.slice(0, 12));
      console.log("acked");
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, url], {
      stdio: ["ignore", "pipe", "inherit"],
      env: process.env,
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const kill = async () => {
      child.kill("SIGKILL");
      await exited;
    };
    opened.push({ close: kill });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", () => resolve());
      child.once("exit", (code) => reject(new Error(`consumer exited (${code})`)));
    });
    return { kill };
  }

  const publish20 = async (stream: string) =>
    (await sink(stream)).publish(Array.from({ length: 20 }, (_, i) => ({ data: enc(`m${i}`) })));
  const LAST_8 = ["m12", "m13", "m14", "m15", "m16", "m17", "m18", "m19"];

  it("takes over the shard of a consumer killed with -9 once its lease expires, from the checkpoint", async () => {
    const stream = uniqueName("takeover");
    await publish20(stream);
    const doomed = await doomedConsumer(fixture.url(stream, { lease_ms: 1000 }));
    const heir = await source(stream, "g", "heir", { lease_ms: 1000 });
    // The lease is alive: the heir takes nothing yet.
    expect(heir.ownedShards()).toEqual([]);
    await doomed.kill();
    const started = Date.now();
    const rest = await readN(heir, 8, { timeoutMs: 5_000 });
    expect(rest.map(dec)).toEqual(LAST_8);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("a consumer restarted under the same name takes its leases back at once", async () => {
    const stream = uniqueName("restart");
    await publish20(stream);
    // Leases of a minute: waiting for them to expire would fail the test.
    const doomed = await doomedConsumer(fixture.url(stream, { lease_ms: 60_000 }));
    await doomed.kill();
    const started = Date.now();
    const again = await source(stream, "g", "doomed", { lease_ms: 60_000 });
    expect(again.ownedShards()).toEqual(["shardId-000000000000"]);
    expect((await readN(again, 8)).map(dec)).toEqual(LAST_8);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("after a shard split, reads the parent to its end before the children", async () => {
    const stream = uniqueName("split");
    const out = await sink(stream);
    await out.publish(Array.from({ length: 20 }, (_, i) => ({ data: enc(`p${i}`), key: `k${i}` })));
    const admin = adminClient();
    try {
      const [parent] = (await admin.send(new ListShardsCommand({ StreamName: stream }))).Shards!;
      await admin.send(
        new SplitShardCommand({
          StreamName: stream,
          ShardToSplit: parent.ShardId,
          NewStartingHashKey: (2n ** 127n).toString(),
        }),
      );
      const ready = async () =>
        (await admin.send(new DescribeStreamSummaryCommand({ StreamName: stream })))
          .StreamDescriptionSummary?.StreamStatus === "ACTIVE";
      while (!(await ready())) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      admin.destroy();
    }
    await out.publish(Array.from({ length: 20 }, (_, i) => ({ data: enc(`c${i}`), key: `k${i}` })));

    const input = await source(stream, "g", "c1");
    const got = (await readN(input, 40, { timeoutMs: 8_000 })).map(dec);
    expect(got).toHaveLength(40);
    expect(got.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `p${i}`));
    expect(new Set(got.slice(20))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `c${i}`)));
    expect(input.ownedShards()).toHaveLength(2); // the two children; the parent is finished
  });

  it("explains a missing stream and an unreachable endpoint as user errors", async () => {
    const missing = openKinesisSource(fixture.url(uniqueName("nope")), {
      group: "g",
      consumer: "c",
    });
    await expect(missing.open()).rejects.toThrow(UserError);
    await expect(openKinesisSink(fixture.url(uniqueName("nope"))).open()).rejects.toThrow(
      /does not exist: create it .* or add \?create=true/,
    );
    const nowhere = openKinesisSink(`kinesis://${uniqueName("x")}?endpoint=http://127.0.0.1:1`);
    await expect(nowhere.open()).rejects.toThrow(UserError);
    await expect(nowhere.open()).rejects.toThrow(
      /cannot reach Kinesis at http:\/\/127\.0\.0\.1:1 \(from URL\) \(ECONNREFUSED\)/,
    );
  });
});
