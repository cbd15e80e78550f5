import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seriesValue } from "../helpers/prometheus.js";
import { postJson, request, RIDES, startTestServer, type TestServer } from "./helpers/server.js";

const LIMIT = 4;
let server: TestServer;
beforeAll(async () => {
  // A long micro-batch window keeps the accepted requests in flight while the others arrive.
  server = await startTestServer({ maxConcurrentRequests: LIMIT, maxBatchDelayMs: 400 });
});
afterAll(async () => {
  await server?.close();
});

describe("the concurrency limit", () => {
  it("answers 503 with Retry-After beyond maxConcurrentRequests, counts it, and keeps health checks open", async () => {
    const answers = Array.from({ length: LIMIT * 3 }, (_, i) =>
      fetch(`${server.url}/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(RIDES[i % RIDES.length]),
      }).then(async (response) => ({
        status: response.status,
        retryAfter: response.headers.get("retry-after"),
        body: (await response.json()) as Record<string, unknown>,
        at: performance.now(),
      })),
    );
    // While the accepted ones wait for their batch: the gauge shows them, health checks pass.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const during = (await request(`${server.url}/metrics`)).text;
    expect(seriesValue(during, "mldeploy_http_requests_in_flight")).toBe(LIMIT);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);

    const settled = await Promise.all(answers);
    const accepted = settled.filter((a) => a.status === 200);
    const rejected = settled.filter((a) => a.status === 503);
    expect(accepted).toHaveLength(LIMIT);
    expect(rejected).toHaveLength(LIMIT * 2);
    for (const answer of rejected) {
      expect(answer.retryAfter).toBe("1");
      expect(answer.body.error).toMatch(/maxConcurrentRequests/);
    }
    // Turned away at once, not after waiting for the others.
    expect(Math.max(...rejected.map((a) => a.at))).toBeLessThan(
      Math.min(...accepted.map((a) => a.at)),
    );

    const after = (await request(`${server.url}/metrics`)).text;
    expect(
      seriesValue(after, "mldeploy_http_requests_rejected_total", { reason: "overload" }),
    ).toBe(LIMIT * 2);
    expect(seriesValue(after, "mldeploy_http_requests_in_flight")).toBe(0);
    // Capacity is back once the accepted ones are answered.
    expect((await postJson(`${server.url}/predict`, RIDES[0])).status).toBe(200);
  });
});
