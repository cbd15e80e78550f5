import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runRegistryServer, type RunningRegistryServer } from "../../../src/registry/server/run.js";
import {
  monitorResultListSchema,
  monitorSummarySchema,
} from "../../../src/registry/server/monitor-schemas.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import type { MonitorResultRow, MonitorSummary } from "../../../src/registry/store/types.js";
import { tempDir } from "../../helpers/temp.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

/**
 * The monitoring results routes over real sockets: rows put and read back, each bad field
 * answered with a 400 naming it, writes refused without the token, the UI's summary.
 */
let registry: TestRegistry;
const TOKEN = "m0nitor";
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 7, 8);
const RUN = "a".repeat(32);

const row = (over: Partial<MonitorResultRow> = {}): MonitorResultRow => ({
  model: "ride-duration",
  version: "1",
  windowStart: T0,
  windowEnd: T0 + HOUR,
  metric: "drift_share",
  column: "",
  value: 0.5,
  runId: RUN,
  ...over,
});
/** `token` null: the request goes without one. */
const call = (method: string, route: string, body?: object, token: string | null = TOKEN) =>
  api(registry.url, method, `/api/v1${route}`, { token: token ?? undefined, body });
const error = (body: unknown) => (body as { error: { message: string; field?: string } }).error;

beforeAll(async () => {
  registry = await startRegistry({ token: TOKEN });
});
afterAll(async () => {
  await registry?.close();
});

describe("monitor-results routes", () => {
  it("puts rows and searches them by model, version, metrics, column, time and limit", async () => {
    const rows = [0, 1, 2].flatMap((h) => {
      const at = { windowStart: T0 + h * HOUR, windowEnd: T0 + (h + 1) * HOUR };
      return [
        row({ ...at, metric: "rmse", value: 5 + h, model: "search-model" }),
        row({ ...at, metric: "drift_share", value: h / 4, model: "search-model" }),
        row({ ...at, metric: "drift_score", column: "trip_distance", model: "search-model" }),
      ];
    });
    expect((await call("POST", "/monitor-results/put", { rows })).status).toBe(204);
    const all = await call("GET", "/monitor-results/search?model=search-model");
    expect(all.status).toBe(200);
    const listed = monitorResultListSchema.parse(all.body);
    expect(listed).toHaveLength(9);
    expect(listed[0].windowStart).toBe(T0 + 2 * HOUR);

    const two = await call(
      "GET",
      `/monitor-results/search?model=search-model&metric=rmse&metric=drift_share&column=&from=${T0 + HOUR}&limit=3`,
    );
    expect((two.body as MonitorResultRow[]).map((r) => [r.metric, r.value])).toEqual([
      ["drift_share", 0.5],
      ["rmse", 7],
      ["drift_share", 0.25],
    ]);
    const one = await call("GET", "/monitor-results/search?model=search-model&metric=rmse");
    expect((one.body as MonitorResultRow[]).map((r) => r.value)).toEqual([7, 6, 5]);
    const column = await call(
      "GET",
      `/monitor-results/search?model=search-model&column=trip_distance&to=${T0 + HOUR}`,
    );
    expect(column.body).toEqual([
      row({ model: "search-model", metric: "drift_score", column: "trip_distance" }),
    ]);
  });

  it("answers a bad field with a 400 naming it, and writes nothing of that put", async () => {
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ model: "" }, "rows.1.model", />=1 characters/],
      [{ model: 7 }, "rows.1.model", /expected string/],
      [{ version: null }, "rows.1.version", /expected string/],
      [{ windowStart: 1.5 }, "rows.1.windowStart", /int/],
      [{ windowStart: -1 }, "rows.1.windowStart", />=0/],
      [{ windowEnd: T0 }, "rows.1.windowEnd", /after windowStart/],
      [{ metric: "x".repeat(257) }, "rows.1.metric", /256/],
      [{ column: null }, "rows.1.column", /expected string/],
      [{ value: "1" }, "rows.1.value", /expected number/],
      [{ runId: "not-a-run" }, "rows.1.runId", /32 lowercase hex/],
      [{ extra: 1 }, "rows.1.extra", /unknown field/],
    ];
    for (const [over, field, message] of bad) {
      const answer = await call("POST", "/monitor-results/put", {
        rows: [row({ model: "bad-model" }), { ...row({ model: "bad-model" }), ...over }],
      });
      expect(answer.status, field).toBe(400);
      expect(error(answer.body).field).toBe(field);
      expect(error(answer.body).message).toMatch(message);
      expect(error(answer.body).message).toContain(field);
    }
    const missing = { ...row() } as Partial<MonitorResultRow>;
    delete missing.windowEnd;
    const noEnd = await call("POST", "/monitor-results/put", { rows: [missing] });
    expect([noEnd.status, error(noEnd.body).field]).toEqual([400, "rows.0.windowEnd"]);
    const noRows = await call("POST", "/monitor-results/put", {});
    expect([noRows.status, error(noRows.body).field]).toEqual([400, "rows"]);
    // JSON cannot carry NaN: a client sending the text is refused as not being JSON.
    const nan = await api(registry.url, "POST", "/api/v1/monitor-results/put", {
      token: TOKEN,
      body: '{"rows":[{"value":NaN}]}',
    });
    expect(nan.status).toBe(400);
    expect((await call("GET", "/monitor-results/search?model=bad-model")).body).toEqual([]);

    const searches: [string, string][] = [
      ["", "model"],
      ["model=m&limit=0", "limit"],
      ["model=m&limit=100001", "limit"],
      ["model=m&from=yesterday", "from"],
      ["model=m&nope=1", "nope"],
    ];
    for (const [query, field] of searches) {
      const answer = await call("GET", `/monitor-results/search?${query}`);
      expect(answer.status, query).toBe(400);
      expect(error(answer.body).field, query).toBe(field);
    }
    const summary = await call("GET", "/monitor-results/summary?model=m&windows=0");
    expect([summary.status, error(summary.body).field]).toEqual([400, "windows"]);
  });

  it("refuses a put without the token (401); a wrong token too", async () => {
    const without = await call("POST", "/monitor-results/put", { rows: [row()] }, null);
    expect(without.status).toBe(401);
    expect(error(without.body).message).toContain("requires a token");
    const wrong = await call("POST", "/monitor-results/put", { rows: [row()] }, "nope");
    expect(wrong.status).toBe(401);
    expect(
      (await call("GET", "/monitor-results/search?model=ride-duration", undefined, null)).status,
    ).toBe(401);
  });

  it("with --public-read, answers searches and summaries without a token but not puts", async () => {
    const store = await SqliteStore.open(path.join(tempDir(), "registry.db"));
    let server: RunningRegistryServer | undefined;
    try {
      server = await runRegistryServer({
        store,
        host: "127.0.0.1",
        port: 0,
        token: TOKEN,
        publicRead: true,
        anyArtifactLocation: true,
      });
      const url = server.url;
      const put = (token?: string) =>
        api(url, "POST", "/api/v1/monitor-results/put", { token, body: { rows: [row()] } });
      expect((await put()).status).toBe(401);
      expect((await put(TOKEN)).status).toBe(204);
      const search = await api(url, "GET", "/api/v1/monitor-results/search?model=ride-duration");
      expect([search.status, (search.body as unknown[]).length]).toEqual([200, 1]);
      const summary = await api(url, "GET", "/api/v1/monitor-results/summary?model=ride-duration");
      expect(summary.status).toBe(200);
    } finally {
      await server?.close();
      await store.close();
    }
  });

  it("summarizes a model per version: the latest window in full, the history oldest first", async () => {
    const model = "summary-model";
    const rows: MonitorResultRow[] = [];
    for (const [version, hours] of [
      ["1", [0, 1, 2]],
      ["2", [1, 3]],
    ] as const) {
      for (const h of hours) {
        const at = {
          model,
          version,
          windowStart: T0 + h * HOUR,
          windowEnd: T0 + (h + 1) * HOUR,
          runId: h === 1 ? null : `${h}${version}`.repeat(16),
        };
        rows.push(
          row({ ...at, metric: "drift_share", value: h / 4 }),
          row({ ...at, metric: "dataset_drift", value: h >= 2 ? 1 : 0 }),
          row({ ...at, metric: "rmse", value: h === 0 ? null : 5 + h }),
          row({ ...at, metric: "training_rmse", value: 5 }),
          row({ ...at, metric: "drift_score", column: "trip_distance", value: 0.1 * h }),
          row({ ...at, metric: "drifted", column: "trip_distance", value: h >= 2 ? 1 : 0 }),
          row({ ...at, metric: "drift_score", column: "PU_DO", value: 0.01 }),
        );
      }
    }
    // A window of version 1 overlapping its latest one: not part of the latest window's rows.
    rows.push(
      row({
        model,
        windowStart: T0 + 2 * HOUR + 1,
        windowEnd: T0 + 2 * HOUR + 2,
        metric: "drift_score",
        column: "stray",
      }),
    );
    expect((await call("POST", "/monitor-results/put", { rows })).status).toBe(204);

    const answer = await call("GET", `/monitor-results/summary?model=${model}&windows=2`);
    expect(answer.status).toBe(200);
    const summary: MonitorSummary = monitorSummarySchema.parse(answer.body);
    expect(summary.versions.map((v) => v.version)).toEqual(["2", "1"]);
    const [v2, v1] = summary.versions;
    expect(v2.latest).toEqual({
      windowStart: T0 + 3 * HOUR,
      windowEnd: T0 + 4 * HOUR,
      runId: "32".repeat(16),
      metrics: { dataset_drift: 1, drift_share: 0.75, rmse: 8, training_rmse: 5 },
      columns: [
        { column: "PU_DO", metrics: { drift_score: 0.01 } },
        { column: "trip_distance", metrics: { drift_score: 0.30000000000000004, drifted: 1 } },
      ],
    });
    expect(v2.windows.map((w) => [w.windowStart, w.runId, w.metrics.rmse])).toEqual([
      [T0 + HOUR, null, 6],
      [T0 + 3 * HOUR, "32".repeat(16), 8],
    ]);
    expect(v2.truncated).toBe(false);
    // windows=2: the newest two of three, oldest first.
    expect(v1.windows.map((w) => [w.windowStart, w.metrics.drift_share])).toEqual([
      [T0 + HOUR, 0.25],
      [T0 + 2 * HOUR, 0.5],
    ]);
    expect(v1.truncated).toBe(true);
    expect(v1.latest.columns.map((c) => c.column)).toEqual(["PU_DO", "trip_distance"]);

    const nothing = await call("GET", "/monitor-results/summary?model=never-monitored");
    expect(nothing.body).toEqual({ model: "never-monitored", versions: [] });
  });

  it("shows the routes in the OpenAPI document", async () => {
    const document = (await call("GET", "/openapi.json")).body as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    expect(document.paths["/api/v1/monitor-results/put"].post.operationId).toBe(
      "putMonitorResults",
    );
    expect(document.paths["/api/v1/monitor-results/search"].get.operationId).toBe(
      "searchMonitorResults",
    );
    expect(document.paths["/api/v1/monitor-results/summary"].get.operationId).toBe(
      "getMonitorSummary",
    );
  });
});
