import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseServeOptions } from "../../src/serve/options.js";
import { request, RIDES, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * The documented limits as shipped, not overridden: a body of 16 MiB and 100,000 rows are
 * served; one byte or one row more is a 413 naming the setting.
 */

const MIB16 = 16 * 1024 * 1024;
const MAX_ROWS = 100_000;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const ride = (i: number) => RIDES[i % RIDES.length];

/** A JSON list of `rows` rides, padded with spaces to exactly `bytes` bytes. */
function jsonRides(rows: number, bytes?: number): string {
  const text = JSON.stringify(Array.from({ length: rows }, (_, i) => ride(i)));
  if (bytes === undefined) return text;
  expect(text.length).toBeLessThanOrEqual(bytes);
  return `[${" ".repeat(bytes - text.length)}${text.slice(1)}`;
}

/** CSV of `rows` rides, padded to exactly `bytes` bytes when given. */
function csvRides(rows: number, bytes?: number): string {
  const header = "PULocationID,DOLocationID,trip_distance\n";
  const lines = Array.from({ length: rows }, (_, i) => {
    const r = ride(i);
    return `${r.PULocationID},${r.DOLocationID},${r.trip_distance}\n`;
  }).join("");
  const text = header + lines;
  if (bytes === undefined) return text;
  expect(text.length).toBeLessThanOrEqual(bytes);
  // Blank lines are not rows: they pad the body without changing it.
  return text + "\n".repeat(bytes - text.length);
}

const post = (path: string, body: string, contentType: string) =>
  request(`${server.url}${path}`, { body, contentType });

/** The same body sent chunked (no Content-Length), so the server must count as it reads. */
async function postChunked(path: string, body: string, contentType: string) {
  const bytes = Buffer.from(body);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 1 << 20)
        controller.enqueue(bytes.subarray(i, i + (1 << 20)));
      controller.close();
    },
  });
  const answer = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": contentType },
    body: stream,
    duplex: "half",
  } as RequestInit);
  return { status: answer.status, json: (await answer.json()) as Record<string, unknown> };
}

describe("serve defaults", () => {
  it("are 16 MiB of body and 100,000 rows per request", () => {
    const options = parseServeOptions({ model: "./model" });
    expect(options.bodyLimitBytes).toBe(MIB16);
    expect(options.maxRows).toBe(MAX_ROWS);
  });

  it("a JSON body of exactly 16 MiB holding 100,000 rows is served; one byte more is a 413", async () => {
    const atLimit = jsonRides(MAX_ROWS, MIB16);
    expect(Buffer.byteLength(atLimit)).toBe(MIB16);
    const served = await post("/predict", atLimit, "application/json");
    expect(served.status).toBe(200);
    expect((served.json as unknown[]).length).toBe(MAX_ROWS);

    const over = await post("/predict", jsonRides(MAX_ROWS, MIB16 + 1), "application/json");
    expect(over).toMatchObject({
      status: 413,
      json: { error: "request body is larger than the limit (bodyLimitBytes)" },
    });
  });

  it("100,001 rows are a 413 naming maxRows on every protocol", async () => {
    const rows = MAX_ROWS + 1;
    expect(await post("/predict", jsonRides(rows), "application/json")).toMatchObject({
      status: 413,
      json: {
        error: `request has ${rows} rows; at most ${MAX_ROWS} are accepted per request (maxRows)`,
      },
    });
    expect(
      await post(
        "/invocations",
        JSON.stringify({ dataframe_records: Array.from({ length: rows }, (_, i) => ride(i)) }),
        "application/json",
      ),
    ).toMatchObject({
      status: 413,
      json: { message: expect.stringMatching(/at most 100000 .*maxRows/) },
    });
    expect(await post("/invocations", csvRides(rows), "text/csv")).toMatchObject({
      status: 413,
      json: {
        error_code: "BAD_REQUEST",
        message: `CSV has more than ${MAX_ROWS} rows; at most ${MAX_ROWS} are accepted per request (maxRows)`,
      },
    });
    const tensor = (name: string) => ({
      name,
      datatype: "FP64",
      shape: [rows],
      data: Array.from({ length: rows }, (_, i) => ride(i)[name as keyof (typeof RIDES)[0]]),
    });
    const v2 = await post(
      "/v2/models/ride-duration/infer",
      JSON.stringify({ inputs: ["PULocationID", "DOLocationID", "trip_distance"].map(tensor) }),
      "application/json",
    );
    expect(v2).toMatchObject({ status: 413, json: { error: expect.stringMatching(/maxRows/) } });
  });

  it("CSV: 100,000 rows in exactly 16 MiB are served, sent whole or chunked; a byte more is a 413", async () => {
    const atLimit = csvRides(MAX_ROWS, MIB16);
    const whole = await post("/invocations", atLimit, "text/csv");
    expect(whole.status).toBe(200);
    expect((whole.json as { predictions: unknown[] }).predictions.length).toBe(MAX_ROWS);
    const chunked = await postChunked("/invocations", atLimit, "text/csv");
    expect(chunked.status).toBe(200);
    expect(chunked.json).toEqual(whole.json);

    const over = csvRides(MAX_ROWS, MIB16 + 1);
    for (const answer of [
      await post("/invocations", over, "text/csv"),
      await postChunked("/invocations", over, "text/csv"),
    ]) {
      expect(answer).toMatchObject({
        status: 413,
        json: { message: "request body is larger than the limit (bodyLimitBytes)" },
      });
    }
  });
});
