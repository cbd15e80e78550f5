import { describe, expect, it } from "vitest";
import type { ColumnSpec } from "../../src/model/types.js";
import { RequestError } from "../../src/serve/errors.js";
import { splitInferenceBody } from "../../src/serve/v2/binary.js";
import { parseV2Request } from "../../src/serve/v2/input.js";
import { batchFromTensors, type InputTensor } from "../../src/serve/v2/tensors.js";

/**
 * Which outputs go binary, as Triton's extension_binary_data.md and http_server.cc decide it:
 * an output's own `binary_data` wins; otherwise the request's `binary_data_output`; otherwise
 * JSON. And where Inference-Header-Content-Length splits a body.
 */

const schema: ColumnSpec[] = [{ name: "x", type: "double", required: true }];
const outputs = ["label", "probabilities"];
const limits = { maxRows: 100 };
const inputs = [{ name: "x", datatype: "FP64", shape: [1], data: [1.5] }];

function binaryOf(body: Record<string, unknown>): string[] {
  return [...parseV2Request({ inputs, ...body }, schema, outputs, limits).binaryOutputs];
}

describe("binary outputs (extension_binary_data.md: binary_data overrides binary_data_output)", () => {
  it.each([
    ["nothing asked: all JSON", {}, []],
    ["binary_data_output true: all binary", { parameters: { binary_data_output: true } }, outputs],
    ["binary_data_output false: all JSON", { parameters: { binary_data_output: false } }, []],
    [
      "one output binary_data true: that one only",
      { outputs: [{ name: "probabilities", parameters: { binary_data: true } }] },
      ["probabilities"],
    ],
    [
      "binary_data_output true, one output binary_data false",
      {
        parameters: { binary_data_output: true },
        outputs: [{ name: "label", parameters: { binary_data: false } }, { name: "probabilities" }],
      },
      ["probabilities"],
    ],
    [
      "binary_data_output true, outputs listed without parameters",
      { parameters: { binary_data_output: true }, outputs: [{ name: "label" }] },
      ["label"],
    ],
    [
      "nulls everywhere count as absent",
      {
        id: null,
        parameters: { binary_data_output: null },
        outputs: [{ name: "label", parameters: { binary_data: null } }],
      },
      [],
    ],
  ])("%s", (_name, body, expected) => {
    expect(binaryOf(body)).toEqual(expected);
  });
});

describe("splitInferenceBody (http_server.cc GetInferenceHeaderLength)", () => {
  const json = Buffer.from('{"inputs":[]}');
  const tail = Buffer.from([1, 2, 3]);

  it("without the header the whole body is JSON", () => {
    const split = splitInferenceBody(json, undefined);
    expect(split.json).toEqual({ inputs: [] });
    expect(split.binary.byteLength).toBe(0);
  });

  it("with it, the JSON is its first n bytes and the rest is binary", () => {
    const split = splitInferenceBody(Buffer.concat([json, tail]), String(json.length));
    expect(split.json).toEqual({ inputs: [] });
    expect([...split.binary]).toEqual([1, 2, 3]);
  });

  it.each([["x"], ["-1"], ["99"], [" "], ["0x10"]])("header %j is a 400", (header) => {
    expect(() => splitInferenceBody(json, header)).toThrow(RequestError);
  });
});

describe("raw numeric columns (the typed-array fast path of batchFromTensors)", () => {
  const rideSchema: ColumnSpec[] = [
    { name: "PULocationID", type: "long", minimum: 1 },
    { name: "trip_distance", type: "double", minimum: 0, maximum: 1000 },
  ];
  const tensorsOf = (ids: number[], distances: number[]) => [
    { name: "PULocationID", datatype: "INT64", shape: [ids.length], data: Float64Array.from(ids) },
    {
      name: "trip_distance",
      datatype: "FP64",
      shape: [distances.length],
      data: Float64Array.from(distances),
    },
  ];
  const outcome = (tensors: ReturnType<typeof tensorsOf> | Array<Record<string, unknown>>) => {
    try {
      const batch = batchFromTensors(tensors as InputTensor[], rideSchema, limits);
      return {
        rows: batch.rows,
        columns: Object.values(batch.columns).map((c) => Array.from(c as ArrayLike<unknown>)),
      };
    } catch (error) {
      return { status: (error as RequestError).statusCode, message: (error as Error).message };
    }
  };
  const asJson = (tensors: ReturnType<typeof tensorsOf>) =>
    tensors.map((tensor) => ({ ...tensor, data: Array.from(tensor.data) }));

  it.each([
    ["all valid", [1, 265, 7], [0, 999.5, 3]],
    ["an id below the minimum", [1, 0, 7], [0, 1, 3]],
    ["a fractional id", [1, 2.5, 7], [0, 1, 3]],
    ["an id past 2^53", [1, 2 ** 53 + 2, 7], [0, 1, 3]],
    ["a distance above the maximum", [1, 2, 7], [0, 1000.5, 3]],
    ["a NaN distance", [1, 2, 7], [0, Number.NaN, 3]],
    ["an infinite distance", [1, 2, 7], [0, Number.POSITIVE_INFINITY, 3]],
  ])("%s: the same batch or the same error as the JSON path", (_name, ids, distances) => {
    const tensors = tensorsOf(ids, distances);
    // Plain arrays of the same numbers take the per-value path (JSON cannot carry NaN).
    expect(outcome(tensors)).toEqual(outcome(asJson(tensors)));
  });
});

describe("INT64 / UINT64 raw bytes as numbers (decodeRawTensor)", () => {
  it("round every 64-bit pattern as Number(BigInt) does", async () => {
    const { decodeRawTensor } = await import("../../src/serve/v2/raw-tensor.js");
    const patterns = [
      0n,
      1n,
      -1n,
      2n ** 53n - 1n,
      2n ** 53n + 1n,
      2n ** 53n + 3n,
      -(2n ** 53n) - 3n,
      2n ** 63n - 1n,
      -(2n ** 63n),
      12345678901234567n,
    ];
    let seed = 7n;
    for (let i = 0; i < 200; i++) {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      patterns.push(BigInt.asIntN(64, seed));
    }
    const signed = BigInt64Array.from(patterns);
    const bytes = new Uint8Array(signed.buffer);
    expect(
      Array.from(decodeRawTensor("x", "INT64", patterns.length, bytes) as Float64Array),
    ).toEqual(Array.from(signed, (big) => Number(big)));
    const unsigned = new BigUint64Array(signed.buffer);
    expect(
      Array.from(decodeRawTensor("x", "UINT64", patterns.length, bytes) as Float64Array),
    ).toEqual(Array.from(unsigned, (big) => Number(big)));
  });
});
