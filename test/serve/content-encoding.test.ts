import { deflateSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expected, RIDES, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Request bodies sent compressed (Content-Encoding: gzip or deflate) are decoded, with the
 * decoded size held to bodyLimitBytes: a zip bomb is a 413 after 16 MiB of output, not a
 * gigabyte of memory. A body that is not what its Content-Encoding says is a 400 naming the
 * header; a coding the server does not know is a 415.
 */

let server: TestServer;
let want: number[];
beforeAll(async () => {
  server = await startTestServer();
  want = await expected(server.predictor);
});
afterAll(async () => {
  await server?.close();
});

async function send(
  path: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const answer = await fetch(`${server.url}${path}`, { method: "POST", headers, body });
  return { status: answer.status, json: (await answer.json()) as Record<string, unknown> };
}

const json = { "content-type": "application/json" };
const csv = { "content-type": "text/csv" };
const ridesJson = JSON.stringify(RIDES);
const ridesCsv =
  "PULocationID,DOLocationID,trip_distance\n" +
  RIDES.map((r) => `${r.PULocationID},${r.DOLocationID},${r.trip_distance}`).join("\n");
const v2Body = JSON.stringify({
  inputs: [
    { name: "PULocationID", datatype: "INT64", shape: [4], data: RIDES.map((r) => r.PULocationID) },
    { name: "DOLocationID", datatype: "INT64", shape: [4], data: RIDES.map((r) => r.DOLocationID) },
    {
      name: "trip_distance",
      datatype: "FP64",
      shape: [4],
      data: RIDES.map((r) => r.trip_distance),
    },
  ],
});

describe("Content-Encoding of request bodies", () => {
  it.each([
    ["gzip", gzipSync],
    ["x-gzip", gzipSync],
    ["deflate", deflateSync],
    ["GZIP", gzipSync],
    ["identity", (text: Buffer) => text],
    ["gzip, identity", gzipSync],
  ])("%s bodies are decoded, on every protocol", async (encoding, encode) => {
    const headers = (type: Record<string, string>) => ({ ...type, "content-encoding": encoding });
    const predict = await send("/predict", encode(Buffer.from(ridesJson)), headers(json));
    expect(predict.status).toBe(200);
    expect(predict.json).toEqual(want.map((duration) => ({ duration, model_version: "7" })));

    const mlflowCsv = await send("/invocations", encode(Buffer.from(ridesCsv)), headers(csv));
    const records = want.map((duration) => ({ duration }));
    expect(mlflowCsv).toEqual({ status: 200, json: { predictions: records } });
    const mlflowJson = await send(
      "/invocations",
      encode(Buffer.from(JSON.stringify({ dataframe_records: RIDES }))),
      headers(json),
    );
    expect(mlflowJson).toEqual({ status: 200, json: { predictions: records } });

    const v2 = await send(
      "/v2/models/ride-duration/infer",
      encode(Buffer.from(v2Body)),
      headers(json),
    );
    expect(v2.status).toBe(200);
    expect((v2.json.outputs as Array<{ data: number[] }>)[0].data).toEqual(want);
  });

  it.each([
    ["/predict", ridesJson, json, /Content-Encoding/],
    ["/invocations", ridesCsv, csv, /Content-Encoding/],
    ["/v2/models/ride-duration/infer", v2Body, json, /Content-Encoding/],
  ])(
    "%s: a plain body labelled gzip is a 400 naming Content-Encoding",
    async (path, body, type, message) => {
      const answer = await send(path, body, { ...type, "content-encoding": "gzip" });
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.json)).toMatch(message);
    },
  );

  it("a truncated gzip body is a 400 naming Content-Encoding", async () => {
    const whole = gzipSync(Buffer.from(ridesJson));
    const answer = await send("/predict", whole.subarray(0, whole.length - 12), {
      ...json,
      "content-encoding": "gzip",
    });
    expect(answer).toEqual({
      status: 400,
      json: { error: expect.stringMatching(/not valid gzip data, as its Content-Encoding says/) },
    });
  });

  it.each(["br", "zstd", "compress", "gzip, gzip", "gzip, br"])(
    "Content-Encoding %s is a 415 naming the header and what is supported",
    async (encoding) => {
      for (const [path, body, type] of [
        ["/predict", ridesJson, json],
        ["/invocations", ridesCsv, csv],
      ] as const) {
        const answer = await send(path, body, { ...type, "content-encoding": encoding });
        expect(answer.status, `${path} ${encoding}`).toBe(415);
        expect(JSON.stringify(answer.json)).toContain(`Content-Encoding \\"${encoding}\\"`);
        expect(JSON.stringify(answer.json)).toContain("gzip, x-gzip, deflate");
      }
    },
  );

  it("a gzip bomb (1 GiB of zeros in 1 MB) is a 413 after 16 MiB of output, quickly, on every protocol", async () => {
    // 16 gzip members of 64 MiB of zeros each: one stream of 1 GiB once decoded.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    for (const [path, type] of [
      ["/predict", json],
      ["/invocations", csv],
      ["/invocations", json],
      ["/v2/models/ride-duration/infer", json],
    ] as const) {
      const started = performance.now();
      const answer = await send(path, bomb, { ...type, "content-encoding": "gzip" });
      expect(answer.status, path).toBe(413);
      expect(JSON.stringify(answer.json)).toMatch(/bodyLimitBytes/);
      // Decoding stops at the limit: far less than the seconds 1 GiB would take.
      expect(performance.now() - started).toBeLessThan(5_000);
    }
    // The server is still there and answers.
    expect((await send("/predict", ridesJson, json)).status).toBe(200);
  });

  it("an unsupported content type labelled gzip is a 415 that leaves the connection usable", async () => {
    const gz = gzipSync(Buffer.from(ridesJson));
    for (let i = 0; i < 3; i++) {
      const refused = await send("/predict", gz, {
        "content-type": "text/plain",
        "content-encoding": "gzip",
      });
      expect(refused.status).toBe(415);
      const served = await send("/predict", gz, { ...json, "content-encoding": "gzip" });
      expect(served.status).toBe(200);
    }
  });
});
