import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expected,
  postJson,
  request,
  RIDES,
  startTestServer,
  type TestServer,
} from "./helpers/server.js";

let server: TestServer;
let want: number[];

beforeAll(async () => {
  server = await startTestServer({ maxBatchDelayMs: 0.5 });
  want = await expected(server.predictor);
});
afterAll(async () => {
  await server?.close();
});

describe("POST /predict (the original service's contract)", () => {
  it("answers one ride with the output and model_version", async () => {
    const answer = await postJson(`${server.url}/predict`, RIDES[0]);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^application\/json/);
    expect(answer.json).toEqual({ duration: want[0], model_version: "7" });
    expect(want[0]).toBeGreaterThan(0);
  });

  it("answers a list of rides with a list in the same order", async () => {
    const answer = await postJson(`${server.url}/predict`, RIDES);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual(want.map((duration) => ({ duration, model_version: "7" })));
  });

  it("reads ids sent as the integer's text as the numbers, as the Flask service's %s key did", async () => {
    const asText = RIDES.map((r) => ({
      ...r,
      PULocationID: String(r.PULocationID),
      DOLocationID: String(r.DOLocationID),
    }));
    expect((await postJson(`${server.url}/predict`, asText[0])).json).toEqual({
      duration: want[0],
      model_version: "7",
    });
    expect((await postJson(`${server.url}/predict`, asText)).json).toEqual(
      want.map((duration) => ({ duration, model_version: "7" })),
    );
    const padded = await postJson(`${server.url}/predict`, { ...RIDES[0], PULocationID: "010" });
    expect(padded).toMatchObject({ status: 422, json: { field: "PULocationID" } });
  });

  it("ignores extra fields, as the Flask service did", async () => {
    const answer = await postJson(`${server.url}/predict`, {
      ...RIDES[1],
      ride_id: 156,
      note: "x",
    });
    expect(answer.json).toEqual({ duration: want[1], model_version: "7" });
  });

  it("gives each of many concurrent single-ride requests its own answer (micro-batching)", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        postJson(`${server.url}/predict`, RIDES[i % RIDES.length]),
      ),
    );
    answers.forEach((answer, i) =>
      expect(answer.json).toEqual({ duration: want[i % RIDES.length], model_version: "7" }),
    );
  });
});

describe("MLflow scoring protocol", () => {
  // As `mlflow models serve` answers for an ONNX model: one record per row, by output name.
  const records = (values: number[]) => values.map((duration) => ({ duration }));
  const columns = ["PULocationID", "DOLocationID", "trip_distance"];
  const data = RIDES.map((r) => [r.PULocationID, r.DOLocationID, r.trip_distance]);

  it.each([
    ["dataframe_split", { dataframe_split: { columns, data } }],
    [
      "dataframe_split with other column order and an index",
      {
        dataframe_split: {
          index: [0, 1, 2, 3],
          columns: ["trip_distance", "DOLocationID", "PULocationID"],
          data: data.map(([a, b, c]) => [c, b, a]),
        },
      },
    ],
    ["dataframe_records", { dataframe_records: RIDES }],
    ["instances", { instances: RIDES }],
    ["inputs as records", { inputs: RIDES }],
    [
      "inputs as columns",
      { inputs: Object.fromEntries(columns.map((c, i) => [c, data.map((row) => row[i])])) },
    ],
    ["params alongside", { dataframe_records: RIDES, params: { anything: 1 } }],
  ])("POST /invocations with %s", async (_name, body) => {
    const answer = await postJson(`${server.url}/invocations`, body);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ predictions: records(want) });
  });

  it("POST /invocations with text/csv (header row, CRLF, quoted cells, pandas index column)", async () => {
    const csv = [
      ",PULocationID,DOLocationID,trip_distance",
      ...RIDES.map((r, i) => `${i},${r.PULocationID},"${r.DOLocationID}",${r.trip_distance}`),
    ].join("\r\n");
    const answer = await request(`${server.url}/invocations`, {
      body: csv + "\r\n",
      contentType: "text/csv; charset=utf-8",
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ predictions: records(want) });
  });

  it("POST /invocations with text/csv sent byte by byte: BOM, CR line ends, blank lines, multi-byte text split across chunks", async () => {
    const csv =
      "\uFEFFnote,PULocationID,DOLocationID,trip_distance\r" +
      RIDES.map(
        (r) => `"Zürich → Köln, ""ü""",${r.PULocationID},${r.DOLocationID},${r.trip_distance}`,
      ).join("\r\r") +
      "\r";
    const bytes = Buffer.from(csv);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i++) controller.enqueue(bytes.subarray(i, i + 1));
        controller.close();
      },
    });
    const answer = await fetch(`${server.url}/invocations`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ predictions: records(want) });
  });

  it("GET /ping and /health answer 200", async () => {
    for (const path of ["/ping", "/health"]) {
      const answer = await request(`${server.url}${path}`);
      expect(answer.status).toBe(200);
    }
  });

  it("GET /version answers the MLflow version, as bare text (as MLflow's /version)", async () => {
    const answer = await request(`${server.url}/version`);
    expect(answer.status).toBe(200);
    expect(answer.text).toMatch(/^2\.\d+\.\d+$/);
  });
});

describe("Open Inference Protocol (KServe V2)", () => {
  const inputs = [
    {
      name: "PULocationID",
      datatype: "INT64",
      shape: [RIDES.length],
      data: RIDES.map((r) => r.PULocationID),
    },
    {
      name: "DOLocationID",
      datatype: "INT64",
      shape: [RIDES.length],
      data: RIDES.map((r) => r.DOLocationID),
    },
    {
      name: "trip_distance",
      datatype: "FP64",
      shape: [RIDES.length],
      data: RIDES.map((r) => r.trip_distance),
    },
  ];

  it("health: live and ready", async () => {
    expect(await request(`${server.url}/v2/health/live`)).toMatchObject({
      status: 200,
      json: { live: true },
    });
    expect(await request(`${server.url}/v2/health/ready`)).toMatchObject({
      status: 200,
      json: { ready: true },
    });
    expect(await request(`${server.url}/v2/models/ride-duration/ready`)).toMatchObject({
      status: 200,
      json: { name: "ride-duration", ready: true },
    });
    expect(await request(`${server.url}/v2/models/ride-duration/versions/7/ready`)).toMatchObject({
      status: 200,
    });
  });

  it("server metadata", async () => {
    const answer = await request(`${server.url}/v2`);
    expect(answer.json).toEqual({
      name: "mldeploy",
      version: expect.any(String),
      extensions: ["binary_tensor_data"],
    });
  });

  it("model metadata lists the request columns as tensors with datatype and shape", async () => {
    for (const path of ["/v2/models/ride-duration", "/v2/models/ride-duration/versions/7"]) {
      const answer = await request(`${server.url}${path}`);
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({
        name: "ride-duration",
        versions: ["7"],
        platform: "onnx_onnxv1",
        inputs: [
          { name: "PULocationID", datatype: "INT64", shape: [-1] },
          { name: "DOLocationID", datatype: "INT64", shape: [-1] },
          { name: "trip_distance", datatype: "FP64", shape: [-1] },
        ],
        outputs: [{ name: "duration", datatype: "FP64", shape: [-1] }],
      });
    }
  });

  it("infers, echoing the id", async () => {
    const answer = await postJson(`${server.url}/v2/models/ride-duration/infer`, {
      id: "req-1",
      inputs,
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      model_name: "ride-duration",
      model_version: "7",
      id: "req-1",
      outputs: [{ name: "duration", datatype: "FP64", shape: [RIDES.length], data: want }],
    });
  });

  it("infers through the versioned path, with [n, 1] nested data, other numeric datatypes and requested outputs", async () => {
    const nested = [
      {
        ...inputs[0],
        datatype: "INT32",
        shape: [RIDES.length, 1],
        data: inputs[0].data.map((v) => [v]),
      },
      { ...inputs[1], datatype: "FP32" },
      { ...inputs[2], datatype: "FP32", shape: [RIDES.length, 1] },
    ];
    const answer = await postJson(`${server.url}/v2/models/ride-duration/versions/7/infer`, {
      inputs: nested,
      outputs: [{ name: "duration" }],
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      model_name: "ride-duration",
      model_version: "7",
      outputs: [{ name: "duration", datatype: "FP64", shape: [RIDES.length], data: want }],
    });
  });

  it("unknown model names and versions are 404 with an error body", async () => {
    for (const [method, path] of [
      ["GET", "/v2/models/other"],
      ["GET", "/v2/models/other/ready"],
      ["GET", "/v2/models/ride-duration/versions/8"],
      ["POST", "/v2/models/other/infer"],
    ]) {
      const answer = await request(
        `${server.url}${path}`,
        method === "POST"
          ? { body: JSON.stringify({ inputs }), contentType: "application/json" }
          : {},
      );
      expect(answer.status, path).toBe(404);
      expect(answer.json).toEqual({ error: expect.stringMatching(/other|version "8"/) });
    }
  });
});

describe("other routes", () => {
  it("unknown routes are 404 JSON", async () => {
    const answer = await request(`${server.url}/nope`);
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: "no route GET /nope" });
  });
});
