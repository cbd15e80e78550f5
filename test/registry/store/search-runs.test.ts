import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunSearchSyntaxError } from "../../../src/registry/store/run-filter.js";
import { PostgresStore } from "../../../src/registry/store/postgres-store.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import type { RegistryStore, Run, SearchRunsInput } from "../../../src/registry/store/types.js";
import { startRegistry, type TestRegistry } from "../server/helpers.js";
import {
  expectRegistryError,
  NO_POSTGRES,
  PG_URL,
  postgresReachable,
  scratchDirs,
  TestSchemas,
} from "./helpers.js";

/**
 * searchRuns: MLflow's filter and order_by syntax (mlflow/utils/search_utils.py, SearchUtils),
 * NULL ordering as mlflow/store/tracking/sqlalchemy_store.py (_get_orderby_clauses), page
 * tokens as SearchUtils.create_page_token — on SQLite, PostgreSQL and through the HTTP API.
 */

const HAS_POSTGRES = await postgresReachable();
const scratch = scratchDirs();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

interface Fixture {
  experimentId: string;
  /** r1, r2, r3 by name; `other` is in another experiment. */
  ids: Record<"r1" | "r2" | "r3" | "other", string>;
}

async function seed(store: RegistryStore): Promise<Fixture> {
  const experiment = await store.createExperiment("search");
  const elsewhere = await store.createExperiment("elsewhere");
  const r1 = await store.createRun({
    experimentId: experiment.id,
    name: "alpha-one",
    startTime: 1000,
    tags: { team: "Vision", note: "it's fine" },
  });
  await store.logParams(r1.id, { alpha: "0", lr: "0.1" });
  // The latest value (highest step) is 3, not the 9 logged at step 0.
  await store.logMetrics(r1.id, [
    { key: "rmse", value: 9, step: 0 },
    { key: "rmse", value: 3, step: 1 },
    { key: "acc", value: 0.9 },
  ]);
  await store.endRun(r1.id, "FINISHED", 1500);

  const r2 = await store.createRun({
    experimentId: experiment.id,
    name: "beta-two",
    startTime: 2000,
    tags: { team: "vision" },
  });
  await store.logParams(r2.id, { alpha: "0.5", lr: "0.2" });
  await store.logMetrics(r2.id, [{ key: "rmse", value: 5 }]);
  await store.endRun(r2.id, "FAILED", 2600);

  const r3 = await store.createRun({
    experimentId: experiment.id,
    name: "gamma",
    startTime: 3000,
    tags: { "eval/set": "holdout" },
  });
  await store.logParams(r3.id, { alpha: "1" });
  await store.logMetrics(r3.id, [{ key: "eval/rmse", value: 7 }]);

  const other = await store.createRun({ experimentId: elsewhere.id, name: "alpha-one" });
  await store.logParams(other.id, { alpha: "0" });
  await store.logMetrics(other.id, [{ key: "rmse", value: 1 }]);
  return { experimentId: experiment.id, ids: { r1: r1.id, r2: r2.id, r3: r3.id, other: other.id } };
}

function describeSearch(
  backend: string,
  open: () => Promise<RegistryStore>,
  close?: () => Promise<void>,
) {
  describe(`searchRuns on ${backend}`, () => {
    let store: RegistryStore;
    let fx: Fixture;
    beforeAll(async () => {
      store = await open();
      fx = await seed(store);
    });
    afterAll(async () => {
      await store?.close();
      await close?.();
    });

    const names = (runs: Run[]) => runs.map((run) => run.name);
    const search = async (filter: string, more: Partial<SearchRunsInput> = {}) =>
      (await store.searchRuns({ experimentIds: [fx.experimentId], filter, ...more })).runs;
    const matches = async (filter: string) => names(await search(filter)).sort();

    it("compares metrics by their latest value, with every numeric comparator", async () => {
      expect(await matches("metrics.rmse = 3")).toEqual(["alpha-one"]);
      expect(await matches("metrics.rmse != 3")).toEqual(["beta-two"]);
      expect(await matches("metrics.rmse < 5")).toEqual(["alpha-one"]);
      expect(await matches("metrics.rmse <= 5")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("metrics.rmse > 4")).toEqual(["beta-two"]);
      expect(await matches("metrics.rmse >= 3")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("metrics.rmse > 8")).toEqual([]); // 9 is not the latest value
      expect(await matches("metric.acc >= 0.9")).toEqual(["alpha-one"]);
      expect(await matches("metrics.rmse < 1e1")).toEqual(["alpha-one", "beta-two"]);
    });

    it("compares params and tags as text: =, != (key required), LIKE case-sensitive, ILIKE not", async () => {
      expect(await matches('params.alpha = "0"')).toEqual(["alpha-one"]);
      expect(await matches("params.alpha = '0.5'")).toEqual(["beta-two"]);
      // As MLflow's join: a run without the param does not match !=.
      expect(await matches('params.lr != "0.2"')).toEqual(["alpha-one"]);
      expect(await matches("params.alpha LIKE '0%'")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("params.alpha LIKE '_'")).toEqual(["alpha-one", "gamma"]);
      expect(await matches("tags.team LIKE 'V%'")).toEqual(["alpha-one"]);
      expect(await matches("tags.team like 'v%'")).toEqual(["beta-two"]);
      expect(await matches("tags.team ILIKE 'v%'")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("tag.team = 'vision'")).toEqual(["beta-two"]);
      // GLOB's own wildcards are plain characters in a LIKE pattern.
      expect(await matches("tags.team LIKE '*'")).toEqual([]);
    });

    it("filters on attributes: status, run_name, run_id IN, start_time/created/end_time", async () => {
      expect(await matches("attributes.status = 'FAILED'")).toEqual(["beta-two"]);
      expect(await matches("status != 'RUNNING'")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("attributes.run_name LIKE '%a-%'")).toEqual(["alpha-one", "beta-two"]);
      expect(await matches("run_name ILIKE 'GAMMA'")).toEqual(["gamma"]);
      expect(await matches("attributes.start_time >= 2000")).toEqual(["beta-two", "gamma"]);
      expect(await matches("attributes.created < 1500.5")).toEqual(["alpha-one"]);
      expect(await matches("attributes.end_time > 2000")).toEqual(["beta-two"]);
      expect(await matches(`attributes.run_id IN ('${fx.ids.r1}', '${fx.ids.r3}')`)).toEqual([
        "alpha-one",
        "gamma",
      ]);
      expect(await matches(`run_id NOT IN ("${fx.ids.r1}")`)).toEqual(["beta-two", "gamma"]);
      expect(await matches("attributes.status IN ('FAILED', 'RUNNING')")).toEqual([
        "beta-two",
        "gamma",
      ]);
    });

    it("joins clauses with and (any case); an empty filter matches every run of the experiments", async () => {
      expect(await matches('metrics.rmse < 5.5 and params.alpha = "0"')).toEqual(["alpha-one"]);
      expect(
        await matches("params.alpha LIKE '%' AND status = 'FAILED' And metrics.rmse = 5"),
      ).toEqual(["beta-two"]);
      expect(await matches("")).toEqual(["alpha-one", "beta-two", "gamma"]);
      expect(await matches("   ")).toEqual(["alpha-one", "beta-two", "gamma"]);
      const all = await store.searchRuns({ filter: "params.alpha = '0'" });
      expect(names(all.runs).sort()).toEqual(["alpha-one", "alpha-one"]);
      const both = await store.searchRuns({
        experimentIds: [fx.experimentId],
        filter: "metrics.rmse < 2",
      });
      expect(both.runs).toEqual([]); // the other experiment's rmse = 1 is not searched
    });

    it("quotes keys with backticks or double quotes, values with either quote; values stay values", async () => {
      expect(await matches("metrics.`eval/rmse` < 8")).toEqual(["gamma"]);
      expect(await matches('metrics."eval/rmse" = 7')).toEqual(["gamma"]);
      expect(await matches("tags.`eval/set` = 'holdout'")).toEqual(["gamma"]);
      expect(await matches(`tags.note = "it's fine"`)).toEqual(["alpha-one"]);
      // Bound as a parameter, never spliced into the SQL.
      expect(await matches(`params.alpha = "0' OR '1' = '1"`)).toEqual([]);
      expect(await matches(`run_name = "x') OR 1=1 --"`)).toEqual([]);
    });

    it("returns whole runs (params, tags, latest metrics)", async () => {
      const [run] = await search("run_name = 'alpha-one'");
      expect(run).toEqual(await store.getRun(fx.ids.r1));
      expect(run.latestMetrics).toEqual({ rmse: 3, acc: 0.9 });
    });

    it("sorts by metric, param and attribute; runs missing the key come last both ways", async () => {
      const order = async (...orderBy: string[]) => names(await search("", { orderBy }));
      expect(await order("metrics.rmse ASC")).toEqual(["alpha-one", "beta-two", "gamma"]);
      expect(await order("metrics.rmse")).toEqual(["alpha-one", "beta-two", "gamma"]);
      expect(await order("metrics.rmse DESC")).toEqual(["beta-two", "alpha-one", "gamma"]);
      expect(await order("params.lr desc")).toEqual(["beta-two", "alpha-one", "gamma"]);
      expect(await order("params.alpha DESC")).toEqual(["gamma", "beta-two", "alpha-one"]);
      expect(await order("tags.team ASC")).toEqual(["alpha-one", "beta-two", "gamma"]);
      expect(await order("attributes.start_time ASC")).toEqual(["alpha-one", "beta-two", "gamma"]);
      expect(await order("attributes.end_time DESC")).toEqual(["beta-two", "alpha-one", "gamma"]);
      expect(await order("run_name DESC")).toEqual(["gamma", "beta-two", "alpha-one"]);
      expect(await order("metrics.`eval/rmse` DESC")).toEqual(["gamma", "beta-two", "alpha-one"]);
      expect(await order("attributes.status")).toEqual(["beta-two", "alpha-one", "gamma"]);
      expect(await order("metrics.acc ASC", "params.alpha DESC")).toEqual([
        "alpha-one",
        "gamma",
        "beta-two",
      ]);
      // Default: newest first, as listRuns.
      expect(await order()).toEqual(["gamma", "beta-two", "alpha-one"]);
      const listed = await store.listRuns({ experimentId: fx.experimentId });
      expect(names(await search(""))).toEqual(names(listed));
    });

    it("pages with opaque tokens until there is no next one", async () => {
      const first = await store.searchRuns({
        experimentIds: [fx.experimentId],
        orderBy: ["metrics.rmse ASC"],
        maxResults: 2,
      });
      expect(names(first.runs)).toEqual(["alpha-one", "beta-two"]);
      expect(first.nextPageToken).toEqual(expect.any(String));
      const second = await store.searchRuns({
        experimentIds: [fx.experimentId],
        orderBy: ["metrics.rmse ASC"],
        maxResults: 2,
        pageToken: first.nextPageToken,
      });
      expect(names(second.runs)).toEqual(["gamma"]);
      expect(second.nextPageToken).toBeUndefined();
      const exact = await store.searchRuns({ experimentIds: [fx.experimentId], maxResults: 3 });
      expect(exact.runs).toHaveLength(3);
      expect(exact.nextPageToken).toBeUndefined();
    });

    it("counts the runs a search matches over all its pages, when asked (includeTotal)", async () => {
      const count = async (filter: string, more: Partial<SearchRunsInput> = {}) => {
        const result = await store.searchRuns({
          experimentIds: [fx.experimentId],
          filter,
          includeTotal: true,
          ...more,
        });
        return result.total;
      };
      // Not asked for: MLflow's shape, no total.
      expect(await store.searchRuns({ experimentIds: [fx.experimentId] })).not.toHaveProperty(
        "total",
      );
      expect(await count("")).toBe(3);
      expect(await count("metrics.rmse <= 5")).toBe(2);
      expect(await count("metrics.rmse > 8")).toBe(0); // 9 is not the latest value
      expect(await count("params.alpha LIKE '0%'")).toBe(2);
      expect(await count('params.lr != "0.2"')).toBe(1); // a run without the param: no match
      expect(await count("tags.team ILIKE 'v%'")).toBe(2);
      expect(await count("tags.`eval/set` = 'holdout'")).toBe(1);
      expect(await count("attributes.status = 'FAILED'")).toBe(1);
      expect(await count("status != 'RUNNING' and metrics.rmse < 5.5 and params.alpha = '0'")).toBe(
        1,
      );
      // Every experiment when none is named; the runs of those named otherwise.
      expect(await count("params.alpha = '0'", { experimentIds: [] })).toBe(2);
      const elsewhere = (await store.getRun(fx.ids.other)).experimentId;
      expect(await count("", { experimentIds: [elsewhere] })).toBe(1);
      expect(await count("", { experimentIds: [fx.experimentId, elsewhere] })).toBe(4);

      // The same on every page, whatever the page size and the sort, and past the last page.
      for (const [filter, matching] of [
        ["", 3],
        ["metrics.rmse <= 5", 2],
      ] as const) {
        for (const maxResults of [1, 2, 3, 50]) {
          const more = { maxResults, orderBy: ["metrics.rmse DESC"] };
          let pageToken: string | undefined;
          let seen = 0;
          do {
            const page = await store.searchRuns({
              experimentIds: [fx.experimentId],
              filter,
              includeTotal: true,
              pageToken,
              ...more,
            });
            expect(page.total, `${filter} by ${maxResults} after ${seen}`).toBe(matching);
            seen += page.runs.length;
            pageToken = page.nextPageToken;
          } while (pageToken !== undefined);
          expect(seen).toBe(matching);
        }
        const beyond = Buffer.from('{"offset":10}').toString("base64");
        expect(await count(filter, { pageToken: beyond, maxResults: 2 })).toBe(matching);
      }
      await expectRegistryError(
        count("", { includeTotal: "yes" as unknown as boolean }),
        "INVALID_VALUE",
        "includeTotal",
      );
    });

    it("refuses syntax errors with the character position", async () => {
      const cases: [string, string][] = [
        [
          "metrics.rmse 5",
          "filter: expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN), found 5 at position 14",
        ],
        ["params.alpha = 0", "expected a quoted string for params.alpha, found 0 at position 16"],
        ["metrics.rmse < 'a'", "expected a number for metrics.rmse, found 'a' at position 16"],
        [
          "metrics.rmse LIKE '3%'",
          "metrics.rmse is a number: compare it with =, !=, <, <=, > or >= at position 14",
        ],
        [
          "params.alpha > '1'",
          "params.alpha is text: compare it with =, !=, LIKE or ILIKE at position 14",
        ],
        ["params.alpha IN ('1')", "params.alpha does not take IN at position 14"],
        ["metrics.rmse < 5 or params.alpha = '0'", "OR is not supported"],
        ["metrics.rmse < 5 or params.alpha = '0'", "at position 18"],
        [
          "metrics.rmse < 5 params.alpha = '0'",
          'expected "and" or the end, found "params.alpha" at position 18',
        ],
        ["attributes.colour = 'red'", 'unknown attribute "colour"'],
        [
          "foo.bar = 1",
          'unknown key type "foo" (expected metrics, params, tags or attributes) at position 1',
        ],
        ["tags.team = 'vision", "unclosed ' quote at position 13"],
        [
          "params.alpha = '0' and",
          "expected a key such as metrics.rmse, params.alpha or status, found the end at position 23",
        ],
        ["metrics.rmse ~ 3", 'unexpected character "~" at position 14'],
        [
          "run_id IN ('a', )",
          'expected a quoted string for attributes.run_id, found ")" at position 17',
        ],
        [
          "metrics.'rmse' = 1",
          'expected a name after "metrics." (quote it with backticks if needed) at position 9',
        ],
      ];
      for (const [filter, message] of cases) {
        const error = await expectRegistryError(search(filter), "INVALID_VALUE", message);
        // Over HTTP too: the client rebuilds it from the body's field and position.
        expect(error).toBeInstanceOf(RunSearchSyntaxError);
        expect((error as RunSearchSyntaxError).field).toBe("filter");
        expect((error as Error).message).toMatch(
          new RegExp(`at position ${(error as RunSearchSyntaxError).position}$`),
        );
      }
      await expectRegistryError(
        search("", { orderBy: ["metrics.rmse", "params.alpha DOWN"] }),
        "INVALID_VALUE",
        'orderBy[1]: expected ASC, DESC or the end, found "DOWN" at position 14',
      );
    });

    it("refuses bad tokens, page sizes and unknown experiments", async () => {
      await expectRegistryError(
        search("", { pageToken: "bm90LWpzb24=" }),
        "INVALID_VALUE",
        "pageToken",
      );
      await expectRegistryError(
        search("", { pageToken: Buffer.from('{"offset":-1}').toString("base64") }),
        "INVALID_VALUE",
        "pageToken",
      );
      await expectRegistryError(search("", { maxResults: 0 }), "INVALID_VALUE", "maxResults");
      await expectRegistryError(search("", { maxResults: 50_001 }), "INVALID_VALUE", "maxResults");
      await expectRegistryError(
        store.searchRuns({ experimentIds: ["0123456789abcdef0123456789abcdef"] }),
        "NOT_FOUND",
        "0123456789abcdef0123456789abcdef",
      );
    });
  });
}

describeSearch("SQLite", () =>
  SqliteStore.open(path.join(scratch(), "registry.db"), { artifactRoot: scratch() }),
);

describe.skipIf(!HAS_POSTGRES)(HAS_POSTGRES ? "PostgreSQL" : `PostgreSQL — ${NO_POSTGRES}`, () => {
  describeSearch("PostgreSQL", () =>
    PostgresStore.open(PG_URL, { schema: schemas.next(), artifactRoot: scratch(), poolSize: 2 }),
  );
});

// Through a real registry-server: HttpStore → POST /api/…/runs/search → SQLite.
let registry: TestRegistry | undefined;
describeSearch(
  "HTTP",
  async () => {
    registry = await startRegistry();
    return registry.client;
  },
  async () => {
    await registry?.close();
  },
);

describe("POST /runs/search over HTTP", () => {
  let server: TestRegistry;
  beforeAll(async () => {
    server = await startRegistry();
    await seed(server.local);
  });
  afterAll(() => server.close());

  it("answers a bad filter with a 400 naming the position", async () => {
    const response = await fetch(`${server.url}/api/v1/runs/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filter: "metrics.rmse 5" }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: { code: string; message: string; field?: string; position?: number };
    };
    expect(body.error.code).toBe("INVALID_VALUE");
    expect(body.error.message).toContain("at position 14");
    // Apart from the message too, for a page to mark the spot.
    expect(body.error.field).toBe("filter");
    expect(body.error.position).toBe(14);
    const order = await fetch(`${server.url}/api/v1/runs/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orderBy: ["metrics.rmse", "params.alpha DOWN"] }),
    });
    expect(((await order.json()) as { error: object }).error).toMatchObject({
      field: "orderBy[1]",
      position: 14,
    });
  });

  it("answers a page and a token in MLflow's shape", async () => {
    const response = await fetch(`${server.url}/api/v1/runs/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        filter: "params.alpha = '0'",
        orderBy: ["start_time"],
        maxResults: 1,
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { runs: Run[]; nextPageToken?: string };
    expect(body.runs).toHaveLength(1);
    expect(typeof body.nextPageToken).toBe("string");
  });

  it("adds total only when asked (includeTotal), and documents it in the OpenAPI document", async () => {
    const search = (body: object) =>
      fetch(`${server.url}/api/v1/runs/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const asked = { filter: "params.alpha = '0'", maxResults: 1 };
    const plain = await search(asked);
    expect(plain.status).toBe(200);
    expect(Object.keys((await plain.json()) as object).sort()).toEqual(["nextPageToken", "runs"]);
    const counted = await search({ ...asked, includeTotal: true });
    expect(counted.status).toBe(200);
    const body = (await counted.json()) as { runs: Run[]; nextPageToken?: string; total?: number };
    expect(body.runs).toHaveLength(1);
    expect(body.total).toBe(2); // one in each experiment
    const second = await search({ ...asked, includeTotal: true, pageToken: body.nextPageToken });
    expect(await second.json()).toMatchObject({ total: 2, runs: [expect.anything()] });
    const unasked = await search({ ...asked, includeTotal: false });
    expect(await unasked.json()).not.toHaveProperty("total");

    const wrong = await search({ includeTotal: "yes" });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { field?: string } }).error.field).toBe(
      "includeTotal",
    );

    const document = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
      components: { schemas: Record<string, { properties: Record<string, object> }> };
    };
    const { SearchRunsRequest, SearchRunsResult } = document.components.schemas;
    expect(SearchRunsRequest.properties.includeTotal).toMatchObject({
      type: "boolean",
      description: expect.stringContaining("total"),
    });
    expect(SearchRunsResult.properties.total).toMatchObject({ type: "number" });
  });
});
