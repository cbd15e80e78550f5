import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ColumnSpec } from "../../src/model/types.js";
import { RequestError } from "../../src/serve/errors.js";
import { parseV2Request } from "../../src/serve/v2/input.js";
import { postJson, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Open Inference Protocol tensors: every value must fit the tensor's declared datatype, as
 * Triton and KServe require (300 is no UINT8), whatever the model column would take; a value
 * that does not is a 400 naming the input and row.
 */

// A double column takes any number, so only the datatype can refuse one.
const schema: ColumnSpec[] = [
  { name: "x", type: "double" },
  { name: "flag", type: "boolean", required: false },
  { name: "label", type: "string", required: false },
];
const limits = { maxRows: 100 };

const parse = (datatype: string, data: unknown[], name = "x") =>
  parseV2Request(
    {
      inputs: [
        { name, datatype, shape: [data.length], data },
        ...(name === "x"
          ? []
          : [{ name: "x", datatype: "FP64", shape: [data.length], data: data.map(() => 1) }]),
      ],
    },
    schema,
    "y",
    limits,
  );

function rejection(run: () => unknown): RequestError {
  try {
    run();
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error("accepted");
}

describe("V2 tensor values must fit their datatype", () => {
  it.each([
    ["INT8", [-128, 127], [-129, 128, 300]],
    ["INT16", [-32768, 32767], [-32769, 32768]],
    ["INT32", [-2147483648, 2147483647], [-2147483649, 2147483648]],
    ["INT64", [-(2 ** 63), 2 ** 62, 2 ** 63 - 1024], [2 ** 63, -(2 ** 64), 1e300]],
    ["UINT8", [0, 255], [-1, 256, 300]],
    ["UINT16", [0, 65535], [-1, 65536]],
    ["UINT32", [0, 4294967295], [-1, 4294967296]],
    ["UINT64", [0, 2 ** 63, 2 ** 64 - 2048], [-1, 2 ** 64, 1e300]],
    ["FP16", [-65504, 0.5, 65504], [65505, -1e5]],
    ["FP32", [-3.4e38, 1.5, 3.4e38], [3.5e38, -1e39]],
    ["FP64", [-1.7e308, 1.5, 1.7e308], []],
  ])(
    "%s: takes %j, refuses each of %j with a 400 naming the input and row",
    (datatype, good, bad) => {
      expect(Array.from(parse(datatype, good).batch.columns.x as Float64Array)).toEqual(good);
      for (const value of bad) {
        const error = rejection(() => parse(datatype, [1, value]));
        expect(error.statusCode, `${datatype} ${value}`).toBe(400);
        expect(error.message).toMatch(
          new RegExp(
            `^input "x": ${String(value).replace("+", "\\+")} \\(row 1\\) is outside the range of ${datatype} \\(`,
          ),
        );
        expect(error).toMatchObject({ field: "x", row: 1 });
      }
    },
  );

  it.each(["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"])(
    "%s refuses a fraction, even for a column of doubles",
    (datatype) => {
      const error = rejection(() => parse(datatype, [1, 2.5]));
      expect(error.statusCode).toBe(400);
      expect(error.message).toBe(
        `input "x": 2.5 (row 1) is not an integer, as ${datatype} requires`,
      );
    },
  );

  it("BOOL and BYTES hold booleans and strings (other values are refused naming the field)", () => {
    expect(parse("BOOL", [true, false], "flag").batch.columns.flag).toEqual([true, false]);
    expect(parse("BYTES", ["a", "b"], "label").batch.columns.label).toEqual(["a", "b"]);
    expect(rejection(() => parse("BOOL", [true, 1], "flag")).statusCode).toBeGreaterThanOrEqual(
      400,
    );
    expect(rejection(() => parse("BYTES", ["a", 1], "label")).statusCode).toBeGreaterThanOrEqual(
      400,
    );
    expect(rejection(() => parse("BOOL", [true, 1], "flag")).message).toMatch(/"flag".*row 1/);
  });
});

describe("over HTTP", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("an INT8 tensor holding 128 is a 400 naming the input; the same values as INT64 are served", async () => {
    const inputs = (datatype: string) => [
      { name: "PULocationID", datatype, shape: [2], data: [10, 128] },
      { name: "DOLocationID", datatype: "INT64", shape: [2], data: [50, 51] },
      { name: "trip_distance", datatype: "FP64", shape: [2], data: [4, 5] },
    ];
    const url = `${server.url}/v2/models/ride-duration/infer`;
    expect(await postJson(url, { inputs: inputs("INT8") })).toMatchObject({
      status: 400,
      json: {
        error: 'input "PULocationID": 128 (row 1) is outside the range of INT8 (-128 to 127)',
      },
    });
    expect((await postJson(url, { inputs: inputs("INT64") })).status).toBe(200);
    expect((await postJson(url, { inputs: inputs("UINT8") })).status).toBe(200);
  });
});
