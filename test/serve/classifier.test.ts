import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPredictor } from "../../src/model/predictor.js";
import { buildServer } from "../../src/serve/server.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  LABEL,
  expectedFor,
  intLabel,
  saveClassifierBundle,
  textLabel,
  type LabelKind,
} from "../model/classifier-bundles.js";
import { postJson, request } from "./helpers/server.js";

/**
 * Classifiers over real sockets, answering as MLflow's scoring server answers for an ONNX
 * model (one record per row: the label, text labels as strings, and the probabilities, under
 * the graph's output names), as the original /predict
 * answers, and as the Open Inference Protocol asks: the label tensor (BYTES for text, INT64 for
 * integers) and the probabilities [N, C] FP64, those named in "outputs", else all.
 */

interface Served {
  app: FastifyInstance;
  url: string;
}

const dir = tempDir("mldeploy-serve-classifier-");
const served: Partial<Record<LabelKind, Served>> = {};

async function serve(kind: LabelKind): Promise<Served> {
  const predictor = await loadPredictor(await saveClassifierBundle(dir, kind), {
    name: `ride-class-${kind}`,
    version: "3",
  });
  const app = await buildServer(predictor, { maxBatchDelayMs: 1 });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { app, url: `http://127.0.0.1:${port}` };
}

beforeAll(async () => {
  served.string = await serve("string");
  served.int64 = await serve("int64");
});
afterAll(async () => {
  await served.string?.app.close();
  await served.int64?.app.close();
});

const distances = CLASS_RIDES.map((ride) => ride.trip_distance);
const textLabels = distances.map(textLabel);
const intLabels = distances.map(intLabel);
const probabilities = distances.flatMap((distance) => expectedFor(distance).probabilities);
const columns = ["PULocationID", "DOLocationID", "trip_distance"] as const;
const v2Inputs = [
  {
    name: "PULocationID",
    datatype: "INT64",
    shape: [CLASS_RIDES.length],
    data: CLASS_RIDES.map((r) => r.PULocationID),
  },
  {
    name: "DOLocationID",
    datatype: "INT64",
    shape: [CLASS_RIDES.length],
    data: CLASS_RIDES.map((r) => r.DOLocationID),
  },
  { name: "trip_distance", datatype: "FP64", shape: [CLASS_RIDES.length], data: distances },
];

function expectCloseList(actual: unknown, expected: number[]): void {
  expect(Array.isArray(actual)).toBe(true);
  const list = actual as number[];
  expect(list.length).toBe(expected.length);
  list.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 12));
}

/** MLflow's records: each row's label and its probabilities (close to the expected ones). */
function expectRecords(json: unknown, labels: Array<string | number>): void {
  const rows = (json as { predictions: Array<Record<string, unknown>> }).predictions;
  expect(rows.map((row) => Object.keys(row))).toEqual(labels.map(() => [LABEL, "probabilities"]));
  expect(rows.map((row) => row[LABEL])).toEqual(labels);
  expectCloseList(
    rows.flatMap((row) => row.probabilities as number[]),
    probabilities,
  );
}

describe("MLflow scoring protocol: POST /invocations", () => {
  it("answers the text labels as strings (dataframe_split, dataframe_records, instances)", async () => {
    const url = `${served.string!.url}/invocations`;
    const bodies = [
      { dataframe_split: { columns, data: CLASS_RIDES.map((r) => columns.map((c) => r[c])) } },
      { dataframe_records: CLASS_RIDES },
      { instances: CLASS_RIDES },
    ];
    for (const body of bodies) {
      const answer = await postJson(url, body);
      expect(answer.status).toBe(200);
      expectRecords(answer.json, textLabels);
    }
  });

  it("answers a CSV body's rows with their labels", async () => {
    const csv = [columns.join(","), ...CLASS_RIDES.map((r) => columns.map((c) => r[c]).join(","))];
    const answer = await request(`${served.string!.url}/invocations`, {
      body: csv.join("\n") + "\n",
      contentType: "text/csv",
    });
    expect(answer.status).toBe(200);
    expectRecords(answer.json, textLabels);
    expect(answer.text).toMatch(
      new RegExp(`^\\{"predictions":\\[\\{"${LABEL}":"(short|long)","probabilities":\\[`),
    );
  });

  it("answers integer labels as JSON integers", async () => {
    const answer = await postJson(`${served.int64!.url}/invocations`, {
      dataframe_records: CLASS_RIDES,
    });
    expect(answer.status).toBe(200);
    expectRecords(answer.json, intLabels);
    expect(answer.text).toContain(`{"${LABEL}":${intLabels[0]},"probabilities":[`);
  });
});

describe("the original service's POST /predict", () => {
  it("answers one ride with its label and the model version", async () => {
    const answer = await postJson(`${served.string!.url}/predict`, CLASS_RIDES[0]);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ [LABEL]: textLabels[0], model_version: "3" });
  });

  it("answers a list of rides in order", async () => {
    const answer = await postJson(`${served.string!.url}/predict`, CLASS_RIDES);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual(
      textLabels.map((label) => ({ [LABEL]: label, model_version: "3" })),
    );
    const ints = await postJson(`${served.int64!.url}/predict`, CLASS_RIDES);
    expect(ints.json).toEqual(intLabels.map((label) => ({ [LABEL]: label, model_version: "3" })));
  });
});

describe("Open Inference Protocol (KServe V2)", () => {
  it("lists the label and the probabilities [-1, C] in the model metadata", async () => {
    const text = await request(`${served.string!.url}/v2/models/ride-class-string`);
    expect(text.status).toBe(200);
    expect((text.json as { outputs: unknown }).outputs).toEqual([
      { name: LABEL, datatype: "BYTES", shape: [-1] },
      { name: "probabilities", datatype: "FP64", shape: [-1, 2] },
    ]);
    const int = await request(`${served.int64!.url}/v2/models/ride-class-int64`);
    expect((int.json as { outputs: unknown[] }).outputs[0]).toEqual({
      name: LABEL,
      datatype: "INT64",
      shape: [-1],
    });
  });

  it("returns every output when the request names none", async () => {
    const answer = await postJson(`${served.string!.url}/v2/models/ride-class-string/infer`, {
      id: "r1",
      inputs: v2Inputs,
    });
    expect(answer.status).toBe(200);
    const body = answer.json as {
      model_name: string;
      id: string;
      outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }>;
    };
    expect(body.model_name).toBe("ride-class-string");
    expect(body.id).toBe("r1");
    expect(body.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      [LABEL, "BYTES", [CLASS_RIDES.length]],
      ["probabilities", "FP64", [CLASS_RIDES.length, 2]],
    ]);
    expect(body.outputs[0].data).toEqual(textLabels);
    expectCloseList(body.outputs[1].data, probabilities);
  });

  it("returns only the outputs named in the request, in its order", async () => {
    const url = `${served.string!.url}/v2/models/ride-class-string/infer`;
    const label = await postJson(url, { inputs: v2Inputs, outputs: [{ name: LABEL }] });
    expect(label.status).toBe(200);
    expect(label.json).toEqual({
      model_name: "ride-class-string",
      model_version: "3",
      outputs: [{ name: LABEL, datatype: "BYTES", shape: [CLASS_RIDES.length], data: textLabels }],
    });
    const table = await postJson(url, { inputs: v2Inputs, outputs: [{ name: "probabilities" }] });
    expect(table.status).toBe(200);
    const outputs = (table.json as { outputs: Array<{ name: string; data: unknown }> }).outputs;
    expect(outputs.map((o) => o.name)).toEqual(["probabilities"]);
    expectCloseList(outputs[0].data, probabilities);
    const both = await postJson(url, {
      inputs: v2Inputs,
      outputs: [{ name: "probabilities" }, { name: LABEL }],
    });
    const names = (both.json as { outputs: Array<{ name: string }> }).outputs.map((o) => o.name);
    expect(names).toEqual(["probabilities", LABEL]);
  });

  it("refuses an output the model does not produce, listing those it does", async () => {
    const answer = await postJson(`${served.string!.url}/v2/models/ride-class-string/infer`, {
      inputs: v2Inputs,
      outputs: [{ name: "duration" }],
    });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain(
      `output \\"duration\\" is not produced by this model (outputs: ${LABEL}, probabilities)`,
    );
  });

  it("gives integer labels as INT64", async () => {
    const answer = await postJson(`${served.int64!.url}/v2/models/ride-class-int64/infer`, {
      inputs: v2Inputs,
      outputs: [{ name: LABEL }],
    });
    expect(answer.json).toEqual({
      model_name: "ride-class-int64",
      model_version: "3",
      outputs: [{ name: LABEL, datatype: "INT64", shape: [CLASS_RIDES.length], data: intLabels }],
    });
  });
});

describe("the OpenAPI document", () => {
  it("says the predictions are strings", async () => {
    const answer = await request(`${served.string!.url}/openapi.json`);
    expect(answer.status).toBe(200);
    const text = JSON.stringify(answer.json);
    expect(text).toContain(`"${LABEL}":{"type":"string"}`);
    expect(text).toContain(
      `"predictions":{"type":"array","items":{"type":"object","properties":{"${LABEL}":{"type":"string"},"probabilities":{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":2}}`,
    );
  });
});
