import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, RIDES, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Every field of a valid request of every protocol, in turn, replaced by JSON nested 5,000
 * levels deep (a list and an object) or by a 100,000-character string: the answer is never
 * a 5xx, and its message stays short (a describer that stringified the value would overflow
 * the stack, or echo the whole value).
 */

const DEPTH = 5_000;
const DEEP_LIST = "[".repeat(DEPTH) + "]".repeat(DEPTH);
const DEEP_OBJECT = '{"a":'.repeat(DEPTH) + "1" + "}".repeat(DEPTH);
const LONG_STRING = JSON.stringify("x".repeat(100_000));
const MARK = "\u0000hostile\u0000";
const MAX_MESSAGE = 400;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

type Path = Array<string | number>;

/** Every place in a JSON value: the value itself, and each element and member within. */
function paths(value: unknown, at: Path = []): Path[] {
  const found: Path[] = [at];
  if (Array.isArray(value)) value.forEach((item, i) => found.push(...paths(item, [...at, i])));
  else if (typeof value === "object" && value !== null)
    for (const [key, item] of Object.entries(value)) found.push(...paths(item, [...at, key]));
  return found;
}

/** The JSON text of `body` with the value at `path` replaced by `json` (raw JSON text). */
function withValueAt(body: unknown, path: Path, json: string): string {
  if (path.length === 0) return json;
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[path[path.length - 1]] = MARK;
  return JSON.stringify(copy).replace(JSON.stringify(MARK), json);
}

const columns = ["PULocationID", "DOLocationID", "trip_distance"];
const tensors = columns.map((name) => ({
  name,
  datatype: name === "trip_distance" ? "FP64" : "INT64",
  shape: [2],
  data: RIDES.slice(0, 2).map((r) => r[name as keyof (typeof RIDES)[0]]),
}));

const endpoints: Array<[string, unknown]> = [
  ["/predict", RIDES[0]],
  ["/predict", RIDES.slice(0, 2)],
  [
    "/invocations",
    {
      dataframe_split: {
        index: [0, 1],
        columns,
        data: RIDES.slice(0, 2).map((r) => columns.map((c) => r[c as keyof typeof r])),
      },
    },
  ],
  ["/invocations", { dataframe_records: RIDES.slice(0, 2), params: { a: 1 } }],
  ["/invocations", { instances: RIDES.slice(0, 2) }],
  ["/invocations", { inputs: Object.fromEntries(columns.map((c, i) => [c, tensors[i].data])) }],
  [
    "/v2/models/ride-duration/infer",
    {
      id: "r1",
      inputs: [{ ...tensors[0], parameters: { content_type: "x" } }, ...tensors.slice(1)],
      outputs: [{ name: "duration", parameters: { binary_data: false } }],
      parameters: { a: 1 },
    },
  ],
];

describe("hostile JSON in every field of every protocol", () => {
  it.each(endpoints.map(([path, body], i) => [`${path} #${i}`, path, body]))(
    "%s: 5,000-deep lists and objects and 100,000-character strings get a short 4xx (or a 200)",
    async (_name, path, body) => {
      const every = paths(body);
      expect(every.length).toBeGreaterThan(3);
      const problems: string[] = [];
      for (const at of every) {
        for (const [what, json] of [
          ["a deep list", DEEP_LIST],
          ["a deep object", DEEP_OBJECT],
          ["a long string", LONG_STRING],
        ]) {
          const answer = await request(`${server.url}${path as string}`, {
            body: withValueAt(body, at, json),
            contentType: "application/json",
          });
          const where = `${what} at ${JSON.stringify(at)}: ${answer.status} ${answer.text.slice(0, 120)}`;
          const short = answer.text.length < MAX_MESSAGE;
          const fine =
            answer.contentType.startsWith("application/json") &&
            (answer.status === 200 || ([400, 413, 415, 422].includes(answer.status) && short));
          if (!fine) problems.push(where);
        }
      }
      expect(problems).toEqual([]);
    },
  );
});

describe("hostile keys", () => {
  it.each(["/predict", "/invocations", "/v2/models/ride-duration/infer"])(
    "%s: a 100,000-character key gets a short 4xx",
    async (path) => {
      const answer = await request(`${server.url}${path}`, {
        body: `{${LONG_STRING}: 1}`,
        contentType: "application/json",
      });
      expect([400, 422]).toContain(answer.status);
      expect(answer.text.length).toBeLessThan(MAX_MESSAGE);
    },
  );
});
