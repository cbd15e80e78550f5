import { describe, expect, it } from "vitest";
import { PartitionProgress } from "../../../src/stream/kafka/progress.js";

describe("Kafka commit progress of one partition", () => {
  it("commits the offset after the acked prefix, never past an unacked message", () => {
    const p = new PartitionProgress();
    for (const offset of [5n, 6n, 7n, 8n]) p.handOut(offset);
    expect(p.pendingCommit()).toBeUndefined();
    expect(p.ack(7n)).toBe(true);
    expect(p.pendingCommit()).toBeUndefined(); // 5 and 6 still out
    expect(p.ack(5n)).toBe(true);
    expect(p.pendingCommit()).toBe(6n); // = "5 is done"; not 8, which would skip 6
    expect(p.ack(6n)).toBe(true);
    expect(p.pendingCommit()).toBe(8n); // 5, 6, 7 done; 8 still out
    expect(p.unacked).toBe(1);
  });

  it("does not commit the same offset twice, and commits again when acks move on", () => {
    const p = new PartitionProgress();
    p.handOut(0n);
    p.handOut(1n);
    p.ack(0n);
    expect(p.pendingCommit()).toBe(1n);
    p.markCommitted(1n);
    expect(p.pendingCommit()).toBeUndefined();
    p.handOut(2n);
    p.ack(1n);
    p.ack(2n);
    expect(p.pendingCommit()).toBe(3n);
    // A late success of an older commit does not move the mark back.
    p.markCommitted(3n);
    p.markCommitted(1n);
    expect(p.pendingCommit()).toBeUndefined();
  });

  it("ignores acks of offsets it did not hand out, or acked already", () => {
    const p = new PartitionProgress();
    p.handOut(10n);
    expect(p.ack(9n)).toBe(false);
    expect(p.ack(11n)).toBe(false);
    expect(p.pendingCommit()).toBeUndefined();
    expect(p.ack(10n)).toBe(true);
    expect(p.ack(10n)).toBe(false);
    expect(p.pendingCommit()).toBe(11n);
    expect(p.unacked).toBe(0);
  });

  it("refuses offsets out of partition order", () => {
    const p = new PartitionProgress();
    p.handOut(3n);
    expect(() => p.handOut(3n)).toThrow(/partition order/);
    expect(() => p.handOut(2n)).toThrow(/partition order/);
  });
});
