import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetricPoint } from "../../../src/registry/store/types.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

interface MetricChart {
  key: string;
  total: number;
  downsampled: boolean;
  points: MetricPoint[];
}

const START = 1_767_225_600_000;
const STEPS = 5000;

describe("GET /api/v1/runs/:id/metrics/:key/chart (a real registry server over SQLite)", () => {
  let registry: TestRegistry;
  let runId: string;
  const chart = async (key: string, query: string) =>
    api(registry.url, "GET", `/api/v1/runs/${runId}/metrics/${key}/chart${query}`);

  beforeAll(async () => {
    registry = await startRegistry();
    const experiment = await registry.local.createExperiment("charts");
    runId = (await registry.local.createRun({ experimentId: experiment.id, startTime: START })).id;
    // loss: 5,000 steps with one spike. Its timestamps run backwards (a clock set back while
    // training), so that step order and time order differ.
    await registry.local.logMetrics(
      runId,
      Array.from({ length: STEPS }, (_, step) => ({
        key: "loss",
        value: step === 3333 ? 50 : 1 / (1 + step),
        step,
        timestamp: START + (STEPS - step) * 1000,
      })),
    );
    await registry.local.logMetrics(runId, [
      { key: "lr", value: 0.1, step: 0, timestamp: START },
      { key: "lr", value: 0.01, step: 1, timestamp: START + 1 },
    ]);
  });
  afterAll(() => registry?.close());

  it("downsamples a long history to maxPoints (default 1000) by step, keeping ends and spike", async () => {
    const answer = await chart("loss", "");
    expect(answer.status).toBe(200);
    const body = answer.body as MetricChart;
    expect(body).toMatchObject({ key: "loss", total: STEPS, downsampled: true });
    expect(body.points).toHaveLength(1000);
    const steps = body.points.map((p) => p.step);
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(STEPS - 1);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(body.points.find((p) => p.step === 3333)?.value).toBe(50);
    expect(body.points[0]).toEqual({
      key: "loss",
      value: 1,
      step: 0,
      timestamp: START + STEPS * 1000,
    });

    const small = (await chart("loss", "?maxPoints=10")).body as MetricChart;
    expect(small.points).toHaveLength(10);
  });

  it("orders and downsamples along time with x=time", async () => {
    const body = (await chart("loss", "?x=time&maxPoints=500")).body as MetricChart;
    expect(body.points).toHaveLength(500);
    const times = body.points.map((p) => p.timestamp);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Time runs backwards here: the first in time is the last step.
    expect(body.points[0].step).toBe(STEPS - 1);
    expect(body.points.at(-1)?.step).toBe(0);
  });

  it("answers every point, not downsampled, when the history fits", async () => {
    const whole = (await chart("loss", `?maxPoints=${STEPS}`)).body as MetricChart;
    expect(whole).toMatchObject({ total: STEPS, downsampled: false });
    expect(whole.points).toEqual(await registry.local.getMetricHistory(runId, "loss"));
    expect((await chart("lr", "")).body).toEqual({
      key: "lr",
      total: 2,
      downsampled: false,
      points: [
        { key: "lr", value: 0.1, step: 0, timestamp: START },
        { key: "lr", value: 0.01, step: 1, timestamp: START + 1 },
      ],
    });
    // A metric never logged has an empty history (as GET /runs/:id/metrics/:key).
    expect((await chart("nothing", "")).body).toEqual({
      key: "nothing",
      total: 0,
      downsampled: false,
      points: [],
    });
  });

  it("refuses maxPoints out of bounds and an unknown x with 400 naming the field", async () => {
    for (const query of [
      "?maxPoints=2",
      "?maxPoints=100001",
      "?maxPoints=ten",
      "?maxPoints=10.5",
    ]) {
      const answer = await chart("loss", query);
      expect(answer.status, query).toBe(400);
      expect(answer.body, query).toMatchObject({
        error: { code: "INVALID_VALUE", field: "maxPoints" },
      });
    }
    const axis = await chart("loss", "?x=wall");
    expect(axis.status).toBe(400);
    expect(axis.body).toMatchObject({ error: { code: "INVALID_VALUE", field: "x" } });
  });

  it("answers 404 for an unknown run", async () => {
    const answer = await api(registry.url, "GET", "/api/v1/runs/no-such-run/metrics/loss/chart");
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
