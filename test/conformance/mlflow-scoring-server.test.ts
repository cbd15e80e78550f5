import http from "node:http";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPredictor } from "../../src/model/predictor.js";
import { buildServer } from "../../src/serve/server.js";
import { MLFLOW_VERSION } from "../../src/serve/mlflow/version.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  expectedFor,
  saveClassifierBundle,
  textLabel,
} from "../model/classifier-bundles.js";
import {
  expected,
  postJson,
  request,
  RIDES,
  startTestServer,
  type TestServer,
} from "../serve/helpers/server.js";

/**
 * `mldeploy serve` answering as `mlflow models serve` (MLflow 2.x) answers for the same ONNX
 * bundle, each behaviour beside the MLflow source it follows. A real model behind a real
 * socket; the graph's output names are read from the bundle's model.onnx by onnxruntime, as
 * `_OnnxModelWrapper` reads them.
 */

let server: TestServer;
let want: number[];
let outputNames: readonly string[];

beforeAll(async () => {
  server = await startTestServer({ maxBatchDelayMs: 0.5 });
  want = await expected(server.predictor);
  const session = await ort.InferenceSession.create(
    path.join(server.predictor.info.path, "model.onnx"),
  );
  outputNames = session.outputNames;
  await session.release();
});
afterAll(async () => {
  await server?.close();
});

const columns = ["PULocationID", "DOLocationID", "trip_distance"];
const data = RIDES.map((r) => [r.PULocationID, r.DOLocationID, r.trip_distance]);
const invocations = (body: unknown) => postJson(`${server.url}/invocations`, body);

/** A request with exactly these headers (fetch would add a Content-Type to a text body). */
function rawPost(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("mlflow/pyfunc/scoring_server/__init__.py: GET /version, /ping, /health", () => {
  it("/version answers MLflow's version as bare text, which ScoringServerClient.get_version() returns (client.py)", async () => {
    const answer = await request(`${server.url}/version`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(MLFLOW_VERSION);
    expect(answer.text).toMatch(/^2\.\d+\.\d+$/);
    expect(answer.contentType).toMatch(/^application\/json/);
  });

  it("/ping and /health answer 200 with a newline", async () => {
    for (const route of ["/ping", "/health"]) {
      expect(await request(`${server.url}${route}`)).toMatchObject({ status: 200, text: "\n" });
    }
  });
});

describe("mlflow/onnx/__init__.py (_OnnxModelWrapper.predict) + predictions_to_json: one record per row keyed by the graph's output names", () => {
  it.each([
    ["dataframe_split", { dataframe_split: { columns, data } }],
    ["dataframe_records", { dataframe_records: RIDES }],
    ["instances", { instances: RIDES }],
    [
      "inputs (columns)",
      { inputs: Object.fromEntries(columns.map((c, i) => [c, data.map((row) => row[i])])) },
    ],
  ])("%s", async (_name, body) => {
    const answer = await invocations(body);
    expect(answer.status).toBe(200);
    expect(outputNames).toEqual(["duration"]);
    expect(answer.json).toEqual({
      predictions: want.map((value) => ({ [outputNames[0]]: value })),
    });
  });

  it("text/csv gives the same records", async () => {
    const csv = [columns.join(","), ...data.map((row) => row.join(","))].join("\n");
    const answer = await request(`${server.url}/invocations`, {
      body: csv,
      contentType: "text/csv",
    });
    expect(answer.json).toEqual({ predictions: want.map((duration) => ({ duration })) });
  });

  it("a classifier's record holds its label and its probabilities, under the graph's output names", async () => {
    const bundle = await saveClassifierBundle(tempDir("mldeploy-conformance-"), "string");
    const predictor = await loadPredictor(bundle, { name: "classes", version: "1" });
    const session = await ort.InferenceSession.create(path.join(bundle, "model.onnx"));
    const names = session.outputNames;
    await session.release();
    const app = await buildServer(predictor, { maxBatchDelayMs: 0.5 });
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = app.server.address() as { port: number };
      const answer = await postJson(`http://127.0.0.1:${port}/invocations`, {
        dataframe_records: CLASS_RIDES,
      });
      expect(answer.status).toBe(200);
      const rows = (answer.json as { predictions: Array<Record<string, unknown>> }).predictions;
      expect(rows).toHaveLength(CLASS_RIDES.length);
      rows.forEach((row, i) => {
        const distance = CLASS_RIDES[i].trip_distance;
        expect(Object.keys(row)).toEqual(names);
        expect(row[names[0]]).toBe(textLabel(distance));
        const probabilities = row[names[1]] as number[];
        expectedFor(distance).probabilities.forEach((p, c) =>
          expect(probabilities[c]).toBeCloseTo(p, 12),
        );
      });
    } finally {
      await app.close();
    }
  });
});

describe("mlflow/utils/proto_json_utils.py (cast_df_types_according_to_schema): numbers written as text are cast", () => {
  it("ids and distances as decimal text get the answer the numbers get", async () => {
    const asText = RIDES.map((r) => ({
      PULocationID: String(r.PULocationID),
      DOLocationID: String(r.DOLocationID),
      trip_distance: String(r.trip_distance),
    }));
    for (const body of [
      { dataframe_records: asText },
      { dataframe_split: { columns, data: data.map((row) => row.map(String)) } },
      { instances: asText },
    ]) {
      const answer = await invocations(body);
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ predictions: want.map((duration) => ({ duration })) });
    }
  });
});

describe("mlflow/exceptions.py (ERROR_CODE_TO_HTTP_STATUS): every input error is a 400 with {error_code, message}", () => {
  const ride = RIDES[0];
  it.each([
    // Values the model's inputs refuse: INVALID_PARAMETER_VALUE, as MLflow's schema enforcement
    // (pyfunc/__init__.py _validate_prediction_input) answers a missing column. MLflow's own
    // cast (proto_json_utils.py cast_df_types_according_to_schema) refuses a null in an integer
    // column or text in a number column earlier, as BAD_REQUEST: the status is the same.
    [
      "a missing column",
      { dataframe_records: [{ PULocationID: 10, DOLocationID: 50 }] },
      "INVALID_PARAMETER_VALUE",
      /trip_distance.*required/,
    ],
    [
      "dataframe_split without columns (pandas numbers them; every input is missing)",
      { dataframe_split: { data } },
      "INVALID_PARAMETER_VALUE",
      /no "columns".*PULocationID, DOLocationID, trip_distance/,
    ],
    [
      "a null in a required column",
      { dataframe_records: [{ ...ride, PULocationID: null }] },
      "INVALID_PARAMETER_VALUE",
      /PULocationID.*required/,
    ],
    [
      "a non-numeric string",
      { dataframe_records: [{ ...ride, trip_distance: "far" }] },
      "INVALID_PARAMETER_VALUE",
      /trip_distance.*must be a number, got "far"/,
    ],
    // proto_json_utils.py: parsing → MlflowInvalidInputException, BAD_REQUEST.
    [
      "instances whose rows have other keys",
      { instances: [ride, { PULocationID: 10, DOLocationID: 50 }] },
      "INVALID_PARAMETER_VALUE",
      /trip_distance" \(row 1\) is required/,
    ],
    [
      "uneven columnar instances",
      { instances: { PULocationID: [1, 2], DOLocationID: [1], trip_distance: [1, 2] } },
      "BAD_REQUEST",
      /has 1 values but other columns have 2/,
    ],
    [
      "uneven columnar inputs",
      { inputs: { PULocationID: [1, 2], DOLocationID: [1], trip_distance: [1, 2] } },
      "BAD_REQUEST",
      /has 1 values but other columns have 2/,
    ],
    [
      "dataframe_split with a key pandas' split orient does not have",
      { dataframe_split: { columns, data, dtype: "int" } },
      "BAD_REQUEST",
      /must have a "data" field and may have "columns" and "index"/,
    ],
    [
      "dataframe_split without data",
      { dataframe_split: { columns } },
      "BAD_REQUEST",
      /must have a "data" field/,
    ],
    [
      "dataframe_split that is a list",
      { dataframe_split: RIDES },
      "BAD_REQUEST",
      /dataframe_split must be an object/,
    ],
    [
      "dataframe_records that is an object",
      { dataframe_records: { columns, data } },
      "BAD_REQUEST",
      /dataframe_records must be a list/,
    ],
    // scoring_server/__init__.py infer_and_parse_data / _decode_json_input: BAD_REQUEST.
    ["no input field", { data }, "BAD_REQUEST", /exactly one of the fields/],
    [
      "two input fields",
      { dataframe_records: RIDES, instances: RIDES },
      "BAD_REQUEST",
      /exactly one of the fields/,
    ],
    ["a list body", RIDES, "BAD_REQUEST", /got a list/],
  ])("%s -> 400 %s", async (_name, body, code, message) => {
    const answer = await invocations(body);
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error_code: code, message: expect.stringMatching(message) });
  });

  it("malformed JSON -> 400 BAD_REQUEST", async () => {
    const answer = await request(`${server.url}/invocations`, {
      body: '{"dataframe_records": [',
      contentType: "application/json",
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error_code: "BAD_REQUEST",
      message: expect.stringMatching(/not valid JSON/),
    });
  });

  it("top-level keys other than the input field are ignored (_split_data_and_params)", async () => {
    const answer = await invocations({
      dataframe_records: RIDES,
      params: { threshold: 1 },
      comment: "sent by a client that adds its own keys",
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ predictions: want.map((duration) => ({ duration })) });
  });

  it("dataframe_split's index is accepted and ignored", async () => {
    const answer = await invocations({
      dataframe_split: { index: [7, 8, 9, 10], columns, data },
    });
    expect(answer.json).toEqual({ predictions: want.map((duration) => ({ duration })) });
  });
});

describe("mlflow/pyfunc/scoring_server/__init__.py (invocations): content types and their parameters", () => {
  const body = JSON.stringify({ dataframe_records: RIDES });
  it.each([
    ["application/json"],
    ["application/json; charset=UTF-8"],
    ["application/json;charset=utf-8"],
  ])("%s -> 200", async (contentType) => {
    const answer = await rawPost(`${server.url}/invocations`, body, {
      "content-type": contentType,
    });
    expect(answer.status).toBe(200);
  });

  it.each([
    ["application/json; charset=latin-1", /^The scoring server only supports UTF-8$/],
    ["text/csv; charset=utf-16", /^The scoring server only supports UTF-8$/],
    ["application/json; format=pandas-split", /^Unrecognized content type parameters: format\./],
    ["application/json; Charset=utf-8", /^Unrecognized content type parameters: Charset\./],
    ["text/plain", /only supports the following content types.*Got 'text\/plain'/],
    ["application/x-www-form-urlencoded", /only supports the following content types/],
    ["Application/JSON", /only supports the following content types/],
  ])("%s -> 415 with a plain-text reason", async (contentType, message) => {
    const answer = await rawPost(`${server.url}/invocations`, body, {
      "content-type": contentType,
    });
    expect(answer.status).toBe(415);
    expect(answer.headers["content-type"]).toMatch(/^text\/plain/);
    expect(answer.text).toMatch(message);
  });

  it("no Content-Type -> 415 (MLflow fails with a 500 there)", async () => {
    const answer = await rawPost(`${server.url}/invocations`, body, {});
    expect(answer.status).toBe(415);
    expect(answer.text).toMatch(/no Content-Type/);
  });
});

describe("Flask/Werkzeug routing under mlflow/pyfunc/scoring_server/__init__.py: methods a route does not take", () => {
  it.each([
    ["GET", "/invocations", "POST, OPTIONS"],
    ["PUT", "/invocations", "POST, OPTIONS"],
    ["DELETE", "/invocations", "POST, OPTIONS"],
    ["POST", "/version", "GET, HEAD, OPTIONS"],
    ["POST", "/ping", "GET, HEAD, OPTIONS"],
    ["PUT", "/health", "GET, HEAD, OPTIONS"],
  ])("%s %s -> 405 with Allow: %s", async (method, route, allow) => {
    const answer = await fetch(`${server.url}${route}`, { method });
    expect(answer.status).toBe(405);
    expect(answer.headers.get("allow")).toBe(allow);
    expect(await answer.json()).toEqual({
      error_code: "BAD_REQUEST",
      message: expect.stringContaining(`${method} is not allowed on ${route}`),
    });
  });

  it("OPTIONS -> 200 with Allow and no body", async () => {
    const answer = await fetch(`${server.url}/invocations`, { method: "OPTIONS" });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("allow")).toBe("POST, OPTIONS");
    expect(await answer.text()).toBe("");
  });
});

describe("deliberate differences from MLflow (README Compatibility)", () => {
  const ride = RIDES[0];
  it.each([
    // MLflow casts 2.5 to 2 (pandas astype truncates); a fractional zone id is a mistake.
    ["a fraction for a long", { ...ride, PULocationID: 2.5 }, /PULocationID.*integer/],
    // MLflow signatures have no bounds; mldeploy's minimum refuses a negative distance.
    ["a negative distance", { ...ride, trip_distance: -1 }, /trip_distance.*>= 0/],
    // MLflow reads "NaN" as a number and answers NaN, which is not JSON.
    ["NaN as text", { ...ride, trip_distance: "NaN" }, /trip_distance.*finite/],
  ])("%s -> 400 INVALID_PARAMETER_VALUE", async (_name, row, message) => {
    const answer = await invocations({ dataframe_records: [row] });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error_code: "INVALID_PARAMETER_VALUE",
      message: expect.stringMatching(message),
    });
  });

  it("an error body never carries MLflow's stack_trace", async () => {
    const answer = await request(`${server.url}/invocations`, {
      body: "",
      contentType: "text/csv",
    });
    expect(answer.status).toBe(400);
    expect(Object.keys(answer.json as object).sort()).toEqual(["error_code", "message"]);
  });
});
