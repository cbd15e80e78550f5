import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { API_ROUTES } from "../../../src/registry/server/routes.js";
import { describeValue } from "../../../src/registry/server/validation.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

/**
 * Deeply nested JSON in any body field must get a short 400 naming the field. Describing the
 * offending value used to JSON.stringify it whole: a stack overflow, answered 500.
 */

const DEPTH = 5_000;
const DEEP_VALUES = {
  array: `${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}`,
  object: `${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}`,
};

const ID = "0".repeat(32);

/** A valid body of every route that takes one (checked against the route's schema below). */
const VALID_BODIES: Record<string, object> = {
  createExperiment: { name: "e", artifactLocation: "/tmp/x", tags: { k: "v" } },
  createRun: { experimentId: ID, name: "r", tags: { k: "v" }, startTime: 1 },
  logParams: { params: { k: "v" } },
  logMetrics: { metrics: [{ key: "k", value: 1, step: 0, timestamp: 1 }] },
  searchRuns: {
    experimentIds: [ID],
    filter: "metrics.rmse < 1",
    orderBy: ["metrics.rmse"],
    maxResults: 10,
    pageToken: "eyJvZmZzZXQiOjB9",
    includeTotal: true,
  },
  setRunTags: { tags: { k: "v" } },
  endRun: { status: "FINISHED", endTime: 1 },
  createRegisteredModel: { name: "m", description: "d" },
  createModelVersion: {
    source: "/tmp/m",
    runId: ID,
    signature: "{}",
    description: "d",
    tags: { k: "v" },
  },
  setModelVersionTags: { tags: { k: "v" } },
  setAlias: { version: 1 },
  reportDeployment: {
    mode: "serve",
    host: "h",
    pid: 1,
    endpoint: "http://127.0.0.1:9696",
    modelUri: "models:/m@production",
    modelName: "m",
    modelVersion: "1",
    versionSince: 1,
    startedAt: 1,
    rate: 0,
    intervalMs: 10_000,
  },
  putMonitorResults: {
    rows: [
      {
        model: "m",
        version: "1",
        windowStart: 0,
        windowEnd: 1,
        metric: "rmse",
        column: "",
        value: 1,
        runId: ID,
      },
    ],
  },
};

/**
 * Bodies the registry passes on without reading them: a "try it" request goes as it is to the
 * deployment, whose own limits judge it (test/registry/server/deployments-api.test.ts).
 */
const PASSED_THROUGH = new Set(["invokeDeployment"]);
const READ_BODIES = API_ROUTES.filter(
  (route) => route.body !== undefined && !PASSED_THROUGH.has(route.operationId),
);

/** Every path into a body where a value sits: objects' fields, a record's value, an array's item. */
function fieldPaths(schema: z.ZodType, prefix: (string | number)[] = []): (string | number)[][] {
  const inner = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
  const here = prefix.length > 0 ? [prefix] : [];
  if (inner instanceof z.ZodObject) {
    return [
      ...here,
      ...Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, field]) =>
        fieldPaths(field, [...prefix, key]),
      ),
    ];
  }
  if (inner instanceof z.ZodArray) {
    return [...here, ...fieldPaths(inner.element as z.ZodType, [...prefix, 0])];
  }
  if (inner instanceof z.ZodRecord) {
    return [...here, ...fieldPaths(inner.valueType as z.ZodType, [...prefix, "k"])];
  }
  return here;
}

const PLACEHOLDER = "__deep_value__";

function withPlaceholder(body: object, at: (string | number)[]): object {
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let target = copy;
  for (const key of at.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  target[at[at.length - 1]] = PLACEHOLDER;
  return copy;
}

function concretePath(route: string): string {
  return route
    .replace(":id", ID)
    .replace(":name", "m")
    .replace(":alias", "a")
    .replace(":version", "1")
    .replace(":key", "k");
}

const cases = READ_BODIES.flatMap((route) =>
  fieldPaths(route.body as z.ZodType).flatMap((at) =>
    Object.entries(DEEP_VALUES).map(([kind, deep]) => ({
      name: `${route.operationId} ${at.join(".")} (${kind})`,
      route,
      at,
      text: JSON.stringify(withPlaceholder(VALID_BODIES[route.operationId], at)).replace(
        `"${PLACEHOLDER}"`,
        deep,
      ),
    })),
  ),
);

describe(`registry API: body fields nested ${DEPTH} deep`, () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(() => registry.close());

  it("has a valid sample body for every route, so each case below varies one field only", () => {
    for (const route of READ_BODIES) {
      const sample = VALID_BODIES[route.operationId];
      expect(sample, route.operationId).toBeDefined();
      expect(route.body?.safeParse(sample).success, route.operationId).toBe(true);
    }
    // Every top-level field of every body, plus the nested ones (metrics.0.value, tags.k …).
    expect(cases.length).toBeGreaterThanOrEqual(2 * 20);
  });

  it.each(cases)("$name: 400 naming the field, with a short message", async (c) => {
    const answer = await api(registry.url, c.route.method, `/api/v1${concretePath(c.route.path)}`, {
      body: c.text,
    });
    expect(answer.status, JSON.stringify(answer.body)?.slice(0, 300)).toBe(400);
    const { error } = answer.body as { error: { code: string; message: string; field?: string } };
    expect(error.code).toBe("INVALID_VALUE");
    expect(error.field?.startsWith(c.at.join("."))).toBe(true);
    expect(error.message.length).toBeLessThan(300);
  });

  it("still serves afterwards, and stored nothing", async () => {
    expect((await api(registry.url, "GET", "/health")).status).toBe(200);
    expect(await registry.local.listExperiments()).toEqual([]);
    expect(await registry.local.listRegisteredModels()).toEqual([]);
  });
});

describe("describeValue", () => {
  it("shows a value in short JSON-like text, bounded in depth, items and length", () => {
    let deep: unknown = "x";
    for (let i = 0; i < DEPTH; i++) deep = [deep];
    expect(describeValue(deep)).toBe("[[[[…]]]]");
    expect(describeValue([1, { x: null }, true, "s"])).toBe('[1,{"x":null},true,"s"]');
    expect(describeValue({ a: [1, 2, 3, 4, 5, 6, 7] })).toBe('{"a":[1,2,3,4,5,…]}');
    expect(describeValue("y".repeat(100))).toBe(`"${"y".repeat(59)}…`);
    expect(describeValue(new Array(1_000_000).fill({ k: "v" })).length).toBeLessThanOrEqual(61);
  });
});
