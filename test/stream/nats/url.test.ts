import { describe, expect, it } from "vitest";
import { describeTarget, parseNatsUrl } from "../../../src/stream/nats/index.js";
import { subjectMatches } from "../../../src/stream/nats/subjects.js";

describe("NATS URL", () => {
  it("takes the stream from the path and defaults the port", () => {
    expect(parseNatsUrl("nats://127.0.0.1:4222/ride_events")).toEqual({
      server: "127.0.0.1:4222",
      stream: "ride_events",
    });
    expect(parseNatsUrl("nats://broker/rides").server).toBe("broker:4222");
  });

  it("reads credentials but never describes them", () => {
    const login = parseNatsUrl("nats://alice:s3cret@broker:4333/rides");
    expect(login).toMatchObject({ user: "alice", pass: "s3cret", server: "broker:4333" });
    expect(describeTarget(login)).toBe("nats://broker:4333/rides");
    expect(parseNatsUrl("nats://tok3n@broker/rides").token).toBe("tok3n");
  });

  it("reads consumer settings from the query", () => {
    expect(parseNatsUrl("nats://h/rides?ack_wait_ms=1000&max_ack_pending=50")).toMatchObject({
      ackWaitMs: 1000,
      maxAckPending: 50,
    });
    expect(() => parseNatsUrl("nats://h/rides?ack_wait_ms=-1")).toThrow(/positive integer/);
    expect(() => parseNatsUrl("nats://h/rides?acks=1")).toThrow(/unknown NATS URL setting/);
  });

  it("rejects other schemes, missing or invalid stream names, without leaking secrets", () => {
    expect(() => parseNatsUrl("redis://h/rides")).toThrow(/not a NATS URL/);
    expect(() => parseNatsUrl("nats://h:4222")).toThrow(/without a stream/);
    expect(() => parseNatsUrl("nats://h/ride.events")).toThrow(/invalid JetStream stream name/);
    expect(() => parseNatsUrl("nats://u:pw@h/a b")).toThrow(/invalid JetStream stream name/);
    expect(() => parseNatsUrl("nats://u:pw@h/a b")).not.toThrow(/pw/);
  });

  it("matches subjects with wildcards", () => {
    expect(subjectMatches("rides", "rides")).toBe(true);
    expect(subjectMatches("rides.*", "rides")).toBe(false);
    expect(subjectMatches(">", "rides")).toBe(true);
    expect(subjectMatches("*", "rides")).toBe(true);
    expect(subjectMatches("a.>", "a.b.c")).toBe(true);
    expect(subjectMatches("other", "rides")).toBe(false);
  });
});
