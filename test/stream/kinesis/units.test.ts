import { describe, expect, it } from "vitest";
import { AckTracker } from "../../../src/stream/kinesis/ack-tracker.js";
import { planLeases } from "../../../src/stream/kinesis/balance.js";
import type { Lease } from "../../../src/stream/kinesis/checkpoints/lease-store.js";
import {
  chunkEntries,
  MAX_BYTES_PER_PUT,
  partitionKey,
  toEntries,
} from "../../../src/stream/kinesis/records.js";

const NOW = 1_000_000;
/** planLeases for a consumer "me" reading the shards it owns in `leases`. */
const plan = (leases: Lease[], me: string, now: number) =>
  planLeases(leases, me, new Set(leases.filter((l) => l.owner === me).map((l) => l.shardId)), now);

const lease = (shardId: string, owner: string | null, extra: Partial<Lease> = {}): Lease => ({
  shardId,
  parents: [],
  owner,
  counter: 1,
  expiresAt: owner === null ? 0 : NOW + 5_000,
  checkpoint: null,
  finished: false,
  ...extra,
});

describe("AckTracker: the checkpoint never passes an unacknowledged record", () => {
  it("moves to the end of the acknowledged prefix, whatever the ack order", () => {
    const t = new AckTracker();
    for (const s of ["1", "2", "3", "4", "5"]) t.deliver(s);
    expect(t.ack("2")).toBe(true);
    expect(t.advance()).toBeUndefined(); // 1 not acked
    t.ack("1");
    t.ack("4");
    expect(t.advance()).toBe("2");
    expect(t.advance()).toBeUndefined();
    t.ack("3");
    expect(t.advance()).toBe("4");
    expect(t.settled).toBe(false);
    expect(t.ack("9")).toBe(false); // never delivered by this reader
    t.ack("5");
    expect(t.advance()).toBe("5");
    expect(t.settled).toBe(true);
  });
});

describe("planLeases", () => {
  it("takes every free lease when alone, and expired ones too", () => {
    const result = plan(
      [lease("s0", null), lease("s1", "dead", { expiresAt: NOW - 1 }), lease("s2", null)],
      "me",
      NOW,
    );
    expect(result.take.map((l) => l.shardId)).toEqual(["s0", "s1", "s2"]);
    expect(result.steal).toBeUndefined();
  });

  it("takes only its share of free leases when others are alive", () => {
    const result = plan(
      [lease("s0", "a"), lease("s1", null), lease("s2", null), lease("s3", null)],
      "me",
      NOW,
    );
    expect(result.target).toBe(2);
    expect(result.take.map((l) => l.shardId)).toEqual(["s1", "s2"]);
  });

  it("steals one lease per round from an overloaded consumer, none when balanced", () => {
    const all = ["s0", "s1", "s2", "s3"].map((s) => lease(s, "a"));
    expect(plan(all, "me", NOW).steal?.owner).toBe("a");
    const balanced = [lease("s0", "a"), lease("s1", "a"), lease("s2", "me"), lease("s3", "me")];
    const none = plan(balanced, "me", NOW);
    expect(none.take).toEqual([]);
    expect(none.steal).toBeUndefined();
    // 3 shards, 2 consumers: 2 + 1 is balanced; the one with 1 does not steal.
    const odd = [lease("s0", "a"), lease("s1", "a"), lease("s2", "me")];
    expect(plan(odd, "me", NOW).steal).toBeUndefined();
    // 4 shards over a, b and me: a and b hold 2 each, I hold 0: take one.
    const third = [lease("s0", "a"), lease("s1", "a"), lease("s2", "b"), lease("s3", "b")];
    expect(plan(third, "me", NOW).steal?.shardId).toBe("s0");
  });

  it("takes back leases left in its name by an earlier process, without waiting for expiry", () => {
    const leftover = [
      lease("s0", "me"),
      lease("s1", "me", { expiresAt: NOW - 1 }),
      lease("s2", "a"),
    ];
    // Restarted: reads nothing yet, although two leases carry its name.
    const fresh = planLeases(leftover, "me", new Set(), NOW);
    expect(fresh.take.map((l) => l.shardId)).toEqual(["s0", "s1"]);
    // Reading s1 whose lease lapsed: renewal, not a take, decides about it.
    const reading = planLeases(leftover, "me", new Set(["s0", "s1"]), NOW);
    expect(reading.take).toEqual([]);
    expect(reading.steal).toBeUndefined();
  });

  it("leases a child shard only once its parents are finished", () => {
    const split = [
      lease("parent", "a", { finished: false }),
      lease("child1", null, { parents: ["parent"] }),
      lease("child2", null, { parents: ["parent"] }),
    ];
    expect(plan(split, "me", NOW)).toMatchObject({ take: [], readable: 1 });
    split[0] = lease("parent", null, { finished: true });
    expect(plan(split, "me", NOW).take.map((l) => l.shardId)).toEqual(["child1", "child2"]);
    // A parent aged out of the stream (not in the table) does not block its children.
    expect(
      plan([lease("c", null, { parents: ["gone"] })], "me", NOW).take.map((l) => l.shardId),
    ).toEqual(["c"]);
  });
});

describe("PutRecords chunks and partition keys", () => {
  it("keeps the message key, else a stable MD5 of the payload (or of a too-long key)", () => {
    const data = new TextEncoder().encode('{"ride_id": 1}');
    expect(partitionKey(data, "156")).toBe("156");
    expect(partitionKey(data, undefined)).toMatch(/^[0-9a-f]{32}$/);
    expect(partitionKey(data, undefined)).toBe(partitionKey(data, ""));
    expect(partitionKey(data, undefined)).not.toBe(partitionKey(new Uint8Array([1]), undefined));
    const long = "k".repeat(300);
    expect(partitionKey(data, long)).toMatch(/^[0-9a-f]{32}$/);
    expect(partitionKey(data, long)).not.toBe(partitionKey(data, undefined));
  });

  it("splits at 500 records and at 5 MiB, in order; refuses a record over 1 MiB", () => {
    const small = toEntries(
      Array.from({ length: 1201 }, (_, i) => ({ data: new Uint8Array([i % 256]) })),
    );
    expect(chunkEntries(small).map((c) => c.length)).toEqual([500, 500, 201]);
    expect(chunkEntries(small).flat()).toEqual(small);
    const big = toEntries(
      Array.from({ length: 12 }, () => ({ data: new Uint8Array(1000 * 1000), key: "k" })),
    );
    const chunks = chunkEntries(big);
    expect(chunks.map((c) => c.length)).toEqual([5, 5, 2]);
    for (const chunk of chunks) {
      expect(chunk.reduce((n, e) => n + e.Data.byteLength + 1, 0)).toBeLessThanOrEqual(
        MAX_BYTES_PER_PUT,
      );
    }
    expect(() => toEntries([{ data: new Uint8Array(1024 * 1024), key: "k" }])).toThrow(
      /message 0 is 1048577 bytes/,
    );
  });
});
