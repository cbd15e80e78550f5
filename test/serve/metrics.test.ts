import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson, request, RIDES, startTestServer, type TestServer } from "./helpers/server.js";
import { seriesValue } from "../helpers/prometheus.js";

let server: TestServer;

beforeAll(async () => {
  // A delay long enough that concurrent requests from this process surely meet in one batch.
  server = await startTestServer({ maxBatchDelayMs: 5 });
});
afterAll(async () => {
  await server?.close();
});

const scrape = async () => {
  const answer = await request(`${server.url}/metrics`);
  expect(answer.status).toBe(200);
  expect(answer.contentType).toMatch(/^text\/plain/);
  return answer.text;
};

describe("GET /metrics", () => {
  it("exposes the service's metrics and the process metrics", async () => {
    await postJson(`${server.url}/predict`, RIDES[0]);
    const text = await scrape();
    for (const name of [
      "mldeploy_http_requests_total",
      "mldeploy_http_request_duration_seconds_bucket",
      "mldeploy_predictions_total",
      "mldeploy_batch_size_rows_bucket",
      "mldeploy_model_load_seconds",
      "process_cpu_user_seconds_total",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(text).toContain(name);
    }
    expect(
      seriesValue(text, "mldeploy_model_load_seconds", { model: "ride-duration", version: "7" }),
    ).toBeGreaterThan(0);
  });

  it("counts requests by route and status, predicted rows and onnxruntime calls", async () => {
    const before = await scrape();
    const ok = { method: "POST", route: "/predict", status_code: "200" };
    const bad = { method: "POST", route: "/predict", status_code: "422" };
    const infer = { method: "POST", route: "/v2/models/:name/infer", status_code: "200" };

    await postJson(`${server.url}/predict`, RIDES[0]);
    await postJson(`${server.url}/predict`, RIDES);
    await postJson(`${server.url}/predict`, { ...RIDES[0], trip_distance: -1 });
    await postJson(`${server.url}/v2/models/ride-duration/infer`, {
      inputs: [
        { name: "PULocationID", datatype: "INT64", shape: [1], data: [1] },
        { name: "DOLocationID", datatype: "INT64", shape: [1], data: [2] },
        { name: "trip_distance", datatype: "FP64", shape: [1], data: [3] },
      ],
    });
    await request(`${server.url}/no/such/route`);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      seriesValue(after, name, labels) - seriesValue(before, name, labels);
    expect(delta("mldeploy_http_requests_total", ok)).toBe(2);
    expect(delta("mldeploy_http_requests_total", bad)).toBe(1);
    expect(delta("mldeploy_http_requests_total", infer)).toBe(1);
    expect(
      delta("mldeploy_http_requests_total", {
        method: "GET",
        route: "unmatched",
        status_code: "404",
      }),
    ).toBe(1);
    expect(delta("mldeploy_http_request_duration_seconds_count", ok)).toBe(2);
    expect(delta("mldeploy_predictions_total")).toBe(1 + RIDES.length + 1);
    expect(delta("mldeploy_batch_size_rows_count")).toBe(3);
    expect(delta("mldeploy_batch_size_rows_sum")).toBe(1 + RIDES.length + 1);
  });

  it("shows coalesced calls in the batch size histogram", async () => {
    const before = await scrape();
    await Promise.all(
      Array.from({ length: 24 }, () => postJson(`${server.url}/predict`, RIDES[1])),
    );
    const after = await scrape();
    const calls =
      seriesValue(after, "mldeploy_batch_size_rows_count") -
      seriesValue(before, "mldeploy_batch_size_rows_count");
    const rows =
      seriesValue(after, "mldeploy_batch_size_rows_sum") -
      seriesValue(before, "mldeploy_batch_size_rows_sum");
    expect(rows).toBe(24);
    expect(calls).toBeLessThan(24);
  });
});
