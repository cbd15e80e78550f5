import { afterEach, describe, expect, it } from "vitest";
import {
  openNatsSink,
  openNatsSource,
  type NatsSink,
  type NatsSource,
} from "../../../src/stream/nats/index.js";
import type { StreamMessage } from "../../../src/stream/types.js";
import { adminJsm, payload, streamUrl, text, uniqueStream } from "./helpers.js";

const opened: Array<NatsSource | NatsSink> = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

async function sink(stream: string): Promise<NatsSink> {
  const s = openNatsSink(streamUrl(stream));
  opened.push(s);
  await s.open();
  return s;
}

async function source(stream: string, group: string, consumer = "c1", ackWaitMs?: number) {
  const s = openNatsSource(streamUrl(stream), { group, consumer }, { ackWaitMs });
  opened.push(s);
  await s.open();
  return s;
}

/** Reads until `count` messages arrived or `timeoutMs` passed. */
async function readAll(
  src: NatsSource,
  count: number,
  timeoutMs: number,
  batch = 100,
): Promise<StreamMessage[][]> {
  const batches: StreamMessage[][] = [];
  const end = Date.now() + timeoutMs;
  let total = 0;
  while (total < count && Date.now() < end) {
    const got = await src.read({ maxMessages: batch, maxWaitMs: 200 });
    if (got.length > 0) {
      batches.push(got);
      total += got.length;
    }
  }
  return batches;
}

describe("NATS JetStream transport", () => {
  it("round-trips 1,000 messages in order, in batches", async () => {
    const stream = uniqueStream("roundtrip");
    const out = await sink(stream);
    const sent = Array.from({ length: 1000 }, (_, i) => payload(i));
    for (let i = 0; i < sent.length; i += 250) {
      await out.publish(sent.slice(i, i + 250).map((data) => ({ data, key: "k" })));
    }
    const src = await source(stream, "scorers");
    const batches = await readAll(src, 1000, 10_000);
    const got = batches.flat();
    expect(got).toHaveLength(1000);
    expect(batches.every((b) => b.length <= 100)).toBe(true);
    expect(got.map((m) => text(m.data))).toEqual(sent.map(text));
    expect(got.map((m) => m.position)).toEqual(sent.map((_, i) => String(i + 1)));
    expect(got.every((m) => m.deliveries === 1 && m.partition === stream)).toBe(true);
    for (const b of batches) await src.ack(b);
    expect(await src.read({ maxMessages: 100, maxWaitMs: 50 })).toEqual([]);
  });

  it("redelivers unacked messages to the group after ack_wait, but not acked ones", async () => {
    const stream = uniqueStream("ack");
    await (await sink(stream)).publish([0, 1, 2, 3, 4].map((i) => ({ data: payload(i) })));

    const first = await source(stream, "g", "a", 1000);
    const unacked = (await readAll(first, 5, 5000, 5)).flat();
    expect(unacked.map((m) => m.position)).toEqual(["1", "2", "3", "4", "5"]);
    await first.close();

    const second = await source(stream, "g", "b", 1000);
    const started = Date.now();
    const again = (await readAll(second, 5, 5000, 5)).flat();
    expect(again.map((m) => m.position)).toEqual(["1", "2", "3", "4", "5"]);
    expect(again.every((m) => m.deliveries === 2)).toBe(true);
    // Not before ack_wait (1 s after the first delivery; part of it passed already).
    expect(Date.now() - started).toBeGreaterThan(300);
    await second.ack(again);
    await second.ack(again); // idempotent, for a loop retrying a partly failed ack
    await second.close();

    const third = await source(stream, "g", "c", 1000);
    expect(await third.read({ maxMessages: 5, maxWaitMs: 1600 })).toEqual([]);
  });

  it("drops no pulled message when the process is busy past the pull's expiry (no wait for ack_wait)", async () => {
    // A pull request stays open after read() returns at its short deadline. If the process is
    // then busy for longer than the pull's expiry (1 s) before it reads the server's answer,
    // nats.js' fetch had already unsubscribed its inbox at its own timer: the whole block was
    // dropped without a word and came back only after ack_wait. A long ack_wait makes any such
    // block miss the deadline below instead of showing up as a redelivery.
    const stream = uniqueStream("stall");
    const count = 2000;
    await (
      await sink(stream)
    ).publish(Array.from({ length: count }, (_, i) => ({ data: payload(i) })));
    const src = await source(stream, "g", "c", 120_000);
    const seen = new Map<string, StreamMessage>();
    const started = Date.now();
    for (let turn = 0; seen.size < count && Date.now() - started < 20_000; turn++) {
      const reading = src.read({ maxMessages: 500, maxWaitMs: 1 });
      // Busy (a slow batch, a descheduled process) before the server's answer is read.
      if (turn % 2 === 0) for (const until = Date.now() + 1200; Date.now() < until;);
      const got = await reading;
      for (const m of got) seen.set(m.position, m);
      await src.ack(got);
    }
    expect(seen.size).toBe(count);
    expect([...seen.values()].every((m) => m.deliveries === 1)).toBe(true);
    const info = await (await adminJsm()).consumers.info(stream, "g");
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(info.delivered.consumer_seq).toBe(count);
  }, 30_000);

  it("re-creates its durable consumer when it is deleted mid-run, and reads on", async () => {
    const stream = uniqueStream("deleted");
    const out = await sink(stream);
    const src = await source(stream, "g");
    await out.publish([{ data: payload(0) }]);
    const first = (await readAll(src, 1, 5000)).flat();
    await src.ack(first);
    expect(first.map((m) => text(m.data))).toEqual([text(payload(0))]);
    // Deleted while a pull is open: the server ends it (409), later pulls have no responder.
    // The consumer made again starts over (its acks went with it): message 0 comes again too.
    const pending = src.read({ maxMessages: 10, maxWaitMs: 300 });
    await (await adminJsm()).consumers.delete(stream, "g");
    const got = await pending;
    await out.publish([{ data: payload(1) }]);
    const end = Date.now() + 10_000;
    while (!got.some((m) => text(m.data) === text(payload(1))) && Date.now() < end) {
      got.push(...(await src.read({ maxMessages: 10, maxWaitMs: 200 })));
    }
    expect(got.map((m) => text(m.data))).toContain(text(payload(1)));
    await src.ack(got);
    expect((await (await adminJsm()).consumers.info(stream, "g")).num_ack_pending).toBe(0);
  });

  it("shares a group's messages between two sources, each message to exactly one", async () => {
    const stream = uniqueStream("group");
    await (
      await sink(stream)
    ).publish(Array.from({ length: 300 }, (_, i) => ({ data: payload(i) })));
    const [a, b] = await Promise.all([source(stream, "g", "a"), source(stream, "g", "b")]);
    const seen = new Map<string, string>();
    const counts = { a: 0, b: 0 };
    const end = Date.now() + 10_000;
    const drain = async (src: NatsSource, name: "a" | "b") => {
      while (seen.size < 300 && Date.now() < end) {
        const got = await src.read({ maxMessages: 10, maxWaitMs: 100 });
        for (const m of got) {
          expect(seen.has(m.position)).toBe(false);
          seen.set(m.position, name);
        }
        counts[name] += got.length;
        await src.ack(got);
      }
    };
    await Promise.all([drain(a, "a"), drain(b, "b")]);
    expect(seen.size).toBe(300);
    expect(counts.a + counts.b).toBe(300);
    expect(counts.a).toBeGreaterThan(0);
    expect(counts.b).toBeGreaterThan(0);
  });

  it("resolves publish only once JetStream stored the messages", async () => {
    const stream = uniqueStream("puback");
    const out = await sink(stream);
    await out.publish([10, 11, 12].map((i) => ({ data: payload(i) })));
    const jsm = await adminJsm();
    // Checked right after publish resolved, with no wait: they must be stored already.
    expect((await jsm.streams.info(stream)).state.messages).toBe(3);
    const stored = await jsm.streams.getMessage(stream, { seq: 3 });
    expect(text(stored.data)).toBe(text(payload(12)));
    await out.publish([]);
  });

  it.each([50, 1000])("returns [] within about maxWaitMs = %i when nothing arrives", async (ms) => {
    const stream = uniqueStream(`empty${ms}`);
    const src = await source(stream, "g");
    for (let i = 0; i < 2; i++) {
      // The second read finds the first one's pull (≥ 1 s) still open and must not wait for it.
      const started = performance.now();
      expect(await src.read({ maxMessages: 10, maxWaitMs: ms })).toEqual([]);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(ms - 5);
      expect(elapsed).toBeLessThan(ms + 250);
    }
  });

  it("delivers a message published while a short read is waiting", async () => {
    const stream = uniqueStream("late");
    const src = await source(stream, "g");
    const out = await sink(stream);
    expect(await src.read({ maxMessages: 1, maxWaitMs: 50 })).toEqual([]);
    await out.publish([{ data: payload(7) }]);
    const started = performance.now();
    const got = await src.read({ maxMessages: 1, maxWaitMs: 2000 });
    expect(got.map((m) => text(m.data))).toEqual([text(payload(7))]);
    // Returned as soon as the batch was full, not at maxWaitMs.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("describes itself without credentials", () => {
    const src = openNatsSource("nats://u:pw@127.0.0.1:4222/rides", { group: "g", consumer: "c" });
    expect(src.description).toBe("nats://127.0.0.1:4222/rides (group g, consumer c)");
    expect(openNatsSink("nats://tok@127.0.0.1:4222/rides").description).toBe(
      "nats://127.0.0.1:4222/rides",
    );
  });
});
