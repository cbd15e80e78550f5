import net from "node:net";
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

/** Sends `requests` one after the other on one socket; resolves with each raw answer. */
async function onOneSocket(url: string, requests: string[]): Promise<string[]> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const answers: string[] = [];
  let received = "";
  try {
    for (const each of requests) {
      received = "";
      socket.write(each);
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          received += chunk.toString("latin1");
          const end = received.indexOf("\r\n\r\n");
          const length = /content-length: *(\d+)/i.exec(received.slice(0, end));
          if (end >= 0 && length && received.length >= end + 4 + Number(length[1])) {
            socket.off("data", onData);
            resolve();
          }
        };
        socket.on("data", onData);
        socket.once("close", () => reject(new Error(`socket closed; received: ${received}`)));
      });
      answers.push(received);
    }
  } finally {
    socket.destroy();
  }
  return answers;
}

const post = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe("a request turned away by the limit", () => {
  it("gets its protocol's error body, unread, on a connection that stays usable", async () => {
    const held = Array.from({ length: LIMIT }, () => postJson(`${server.url}/predict`, RIDES[0]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A body that is not JSON, and large: it is discarded unparsed, and the next request on the
    // same connection is read correctly after it.
    const [mlflow, v2] = await onOneSocket(server.url, [
      post("/invocations", "x".repeat(256 * 1024)),
      post("/v2/models/ride-duration/infer", JSON.stringify({ inputs: [] })),
    ]);
    expect(mlflow).toMatch(/^HTTP\/1\.1 503 /);
    expect(mlflow).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(mlflow).toMatch(/\{"error_code":"[A-Z_]+","message":"[^"]*maxConcurrentRequests/);
    expect(v2).toMatch(/^HTTP\/1\.1 503 /);
    expect(v2).toMatch(/\r\n\r\n\{"error":"[^"]*maxConcurrentRequests[^"]*"\}$/);
    expect((await Promise.all(held)).map((answer) => answer.status)).toEqual(
      Array(LIMIT).fill(200),
    );
  });
});
