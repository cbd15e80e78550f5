import { describe, expect, it } from "vitest";
import { parseRedisStreamUrl } from "../../../src/stream/redis/index.js";

describe("Redis stream URL", () => {
  it("takes the path as the stream key and defaults port and db", () => {
    expect(parseRedisStreamUrl("redis://127.0.0.1/ride_events")).toMatchObject({
      host: "127.0.0.1",
      port: 6379,
      db: 0,
      tls: false,
      stream: "ride_events",
      description: "redis://127.0.0.1/ride_events",
    });
  });

  it("reads db from the query, credentials from the userinfo, and hides the password", () => {
    const target = parseRedisStreamUrl("rediss://app:s3cr%40t@cache:6380/rides:in?db=2");
    expect(target).toMatchObject({
      host: "cache",
      port: 6380,
      db: 2,
      tls: true,
      username: "app",
      password: "s3cr@t",
      stream: "rides:in",
    });
    expect(target.description).toBe("rediss://cache:6380/rides%3Ain?db=2");
    expect(target.description).not.toContain("s3cr");
  });

  it("percent-decodes the key", () => {
    expect(parseRedisStreamUrl("redis://h:1/a%20b%2Fc").stream).toBe("a b/c");
  });

  it("rejects URLs without a key, other schemes, bad db and unknown parameters", () => {
    expect(() => parseRedisStreamUrl("redis://h:6379")).toThrow(/stream key/);
    expect(() => parseRedisStreamUrl("redis://h:6379/")).toThrow(/stream key/);
    expect(() => parseRedisStreamUrl("nats://h:4222/x")).toThrow(/not a Redis stream URL/);
    expect(() => parseRedisStreamUrl("redis://h/x?db=one")).toThrow(/db must be a number/);
    expect(() => parseRedisStreamUrl("redis://h/x?group=g")).toThrow(/unknown .* "group"/);
    expect(() => parseRedisStreamUrl("redis://h/x?claim_idle_ms=0")).toThrow(
      /claim_idle_ms must be a positive number of milliseconds, got "0"/,
    );
  });

  it("reads the takeover time of idle pending entries from claim_idle_ms", () => {
    expect(parseRedisStreamUrl("redis://h/x?claim_idle_ms=2500").claimIdleMs).toBe(2500);
    expect(parseRedisStreamUrl("redis://h/x").claimIdleMs).toBeUndefined();
  });
});
