import { describe, expect, it } from "vitest";
import {
  decodeModelInferRequest,
  encodeModelInferResponse,
} from "../../../src/serve/grpc/infer-codec.js";
import { inferenceService } from "../../../src/serve/grpc/proto.js";
import type {
  ModelInferRequest,
  ModelInferResponse,
  TensorContents,
} from "../../../src/serve/grpc/messages.js";

/**
 * The hand-written codec of ModelInfer (src/serve/grpc/infer-codec.ts) against the generic
 * one of @grpc/proto-loader it stands in for: where it decodes, the same request; where it
 * encodes, the same bytes; where it declines, undefined (the server then takes the generic
 * path). Messages from protobufjs's own encoder, hand-written wire bytes (unpacked numbers,
 * parameters, unknown fields), and seeded random messages and mutations of them.
 */

const generic = inferenceService().ModelInfer;
const serialize = (request: Record<string, unknown>) => generic.requestSerialize(request);

/** What a reader of the request can tell apart: no `parameters`, no empty contents arrays. */
function readable(request: unknown): unknown {
  return JSON.parse(
    JSON.stringify(request, (key, value: unknown) =>
      key === "parameters"
        ? undefined
        : Buffer.isBuffer(value)
          ? value
          : Array.isArray(value) &&
              value.length === 0 &&
              key.endsWith("_contents") &&
              key !== "raw_input_contents"
            ? undefined
            : value,
    ),
  );
}

function expectSameDecoding(bytes: Buffer): ModelInferRequest {
  const fast = decodeModelInferRequest(bytes);
  expect(fast, "the fast path declined").toBeDefined();
  const reference = generic.requestDeserialize(bytes) as ModelInferRequest;
  expect(readable(fast)).toEqual(readable(reference));
  return fast!;
}

const ride = {
  model_name: "ride-duration",
  inputs: [
    { name: "PULocationID", datatype: "INT64", shape: [1], contents: { int64_contents: [10] } },
    { name: "DOLocationID", datatype: "INT64", shape: [1], contents: { int64_contents: [50] } },
    { name: "trip_distance", datatype: "FP64", shape: [1], contents: { fp64_contents: [40] } },
  ],
};

/** Wire bytes by hand: a tag, then a varint or length-delimited payload. */
const tag = (field: number, wire: number) => Buffer.from([(field << 3) | wire]);
const varint = (value: number) => {
  const out: number[] = [];
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
};
const len = (field: number, payload: Buffer) =>
  Buffer.concat([tag(field, 2), varint(payload.length), payload]);
const text = (field: number, value: string) => len(field, Buffer.from(value, "utf8"));

describe("decodeModelInferRequest", () => {
  it("decodes a single ride in typed contents as the generic path does", () => {
    const request = expectSameDecoding(serialize(ride));
    expect(request.inputs.map((input) => input.contents)).toEqual([
      { int64_contents: [10] },
      { int64_contents: [50] },
      { fp64_contents: [40] },
    ]);
    expect(request).toMatchObject({ model_name: "ride-duration", model_version: "", id: "" });
  });

  it("decodes raw contents as views of the message, outputs, ids and every contents field", () => {
    const raw = Buffer.from(new Float64Array([1.5, -2, 3e300]).buffer);
    const bytes = serialize({
      model_name: "m",
      model_version: "7",
      id: "req-ü-✓",
      inputs: [
        { name: "a", datatype: "FP64", shape: [3] },
        { name: "b", datatype: "BYTES", shape: [2, 1] },
      ],
      outputs: [{ name: "duration" }, { name: "" }],
      raw_input_contents: [raw, Buffer.alloc(0)],
    });
    const request = expectSameDecoding(bytes);
    expect(request.raw_input_contents[0].equals(raw)).toBe(true);
    expect(request.raw_input_contents[0].buffer).toBe(bytes.buffer);

    expectSameDecoding(
      serialize({
        inputs: [
          {
            name: "all",
            datatype: "X",
            shape: [2, 3, 0, 2 ** 40],
            contents: {
              bool_contents: [true, false, true],
              int_contents: [0, 1, 2 ** 27],
              int64_contents: [0, 2 ** 48 + 1, 127, 128],
              uint_contents: [5, 300],
              uint64_contents: [2 ** 48],
              fp32_contents: [0.5, -1.25, 3.4e38],
              fp64_contents: [Math.PI, -0, Number.MAX_VALUE, Number.MIN_VALUE],
              bytes_contents: [Buffer.from("x"), Buffer.alloc(0), Buffer.from([0xff, 0xfe])],
            },
          },
          { name: "no contents", datatype: "FP64", shape: [] },
        ],
      }),
    );
    expectSameDecoding(Buffer.alloc(0));
  });

  it("takes unpacked numbers (one element per field) as protobufjs does", () => {
    const contents = Buffer.concat([
      tag(3, 0),
      varint(10),
      tag(3, 0),
      varint(20),
      tag(7, 1),
      Buffer.from(new Float64Array([2.5]).buffer),
      tag(6, 5),
      Buffer.from(new Float32Array([0.25]).buffer),
      tag(1, 0),
      varint(1),
    ]);
    const input = Buffer.concat([
      text(1, "x"),
      tag(3, 0),
      varint(2),
      text(2, "INT64"),
      len(5, contents),
    ]);
    const request = expectSameDecoding(Buffer.concat([len(5, input), text(1, "m")]));
    expect(request.inputs[0].contents).toEqual({
      int64_contents: [10, 20],
      fp64_contents: [2.5],
      fp32_contents: [0.25],
      bool_contents: [true],
    });
  });

  it("declines what it does not take on: the generic path then answers as before", () => {
    const declined = (bytes: Buffer) => expect(decodeModelInferRequest(bytes)).toBeUndefined();
    // parameters (request, input, output), as Triton's client sends for sequences
    declined(serialize({ ...ride, parameters: { priority: { int64_param: 1 } } }));
    declined(
      serialize({ inputs: [{ name: "a", parameters: { binary_data_size: { int64_param: 8 } } }] }),
    );
    declined(
      serialize({ outputs: [{ name: "a", parameters: { binary_data: { bool_param: true } } }] }),
    );
    // a negative int64 (10 varint bytes), one past 2^49, a negative int32
    declined(serialize({ inputs: [{ name: "a", contents: { int64_contents: [-1] } }] }));
    declined(serialize({ inputs: [{ name: "a", contents: { int64_contents: [2 ** 50] } }] }));
    declined(serialize({ inputs: [{ name: "a", shape: [-1] }] }));
    declined(serialize({ inputs: [{ name: "a", contents: { int_contents: [-5] } }] }));
    // an unknown field, a field repeated that is singular, another wire type, truncation
    declined(Buffer.concat([text(1, "m"), text(9, "x")]));
    declined(Buffer.concat([text(1, "m"), text(1, "n")]));
    declined(Buffer.concat([tag(1, 0), varint(5)]));
    declined(serialize(ride).subarray(0, 20));
    declined(Buffer.from([0x0a, 0x05, 0x61]));
    // a packed double whose length is not a multiple of 8
    declined(len(5, len(5, len(7, Buffer.alloc(5)))));
  });

  it("agrees with the generic path on seeded random messages and on random mutations of them", () => {
    let seed = 19;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const int = (below: number) => Math.floor(random() * below);
    const pick = <T>(values: readonly T[]): T => values[int(values.length)];
    const numbers = (make: () => number) => Array.from({ length: int(4) }, make);
    const contents = (): TensorContents => {
      const out: TensorContents = {};
      if (random() < 0.3) out.int64_contents = numbers(() => int(2 ** 20));
      if (random() < 0.3) out.fp64_contents = numbers(() => random() * 1e6 - 5e5);
      if (random() < 0.2) out.fp32_contents = numbers(() => Math.fround(random()));
      if (random() < 0.2) out.int_contents = numbers(() => int(1000));
      if (random() < 0.2) out.bool_contents = numbers(() => int(2)).map(Boolean);
      if (random() < 0.2)
        out.bytes_contents = numbers(() => int(300)).map((n) => Buffer.alloc(n, n));
      return out;
    };
    let decoded = 0;
    let mutatedAgreed = 0;
    for (let i = 0; i < 400; i++) {
      const bytes = serialize({
        model_name: pick(["", "ride-duration", "modèle"]),
        model_version: pick(["", "3"]),
        id: pick(["", "42", "x".repeat(200)]),
        inputs: Array.from({ length: int(4) }, () => ({
          name: pick(["a", "PULocationID", ""]),
          datatype: pick(["INT64", "FP64", "BYTES", ""]),
          shape: numbers(() => int(2000)),
          ...(random() < 0.8 ? { contents: contents() } : {}),
        })),
        outputs: Array.from({ length: int(3) }, () => ({ name: pick(["duration", "p"]) })),
        raw_input_contents:
          random() < 0.3 ? numbers(() => int(40)).map((n) => Buffer.alloc(n, 7)) : [],
      });
      expectSameDecoding(bytes);
      decoded++;
      // A mutation either still decodes to what the generic path gives, or is declined.
      const mutated = Buffer.from(bytes);
      if (mutated.length === 0) continue;
      for (let flips = 1 + int(3); flips > 0; flips--) mutated[int(mutated.length)] = int(256);
      const fast = decodeModelInferRequest(mutated);
      if (fast === undefined) continue;
      expect(readable(fast)).toEqual(readable(generic.requestDeserialize(mutated)));
      mutatedAgreed++;
    }
    expect(decoded).toBe(400);
    // Most mutations of string bytes still decode: the comparison above did run.
    expect(mutatedAgreed).toBeGreaterThan(50);
  });
});

describe("encodeModelInferResponse", () => {
  const expectSameBytes = (response: ModelInferResponse) => {
    const fast = encodeModelInferResponse(response);
    expect(fast, "the fast path declined").toBeDefined();
    expect(fast!.toString("hex")).toBe(generic.responseSerialize(response).toString("hex"));
  };
  const base = { model_name: "ride-duration", model_version: "", id: "", raw_output_contents: [] };

  it("writes the generic path's bytes for typed, raw and classifier answers", () => {
    expectSameBytes({
      ...base,
      outputs: [
        { name: "duration", datatype: "FP64", shape: [1], contents: { fp64_contents: [12.5] } },
      ],
    });
    expectSameBytes({
      ...base,
      model_version: "12",
      id: "req-ü-✓",
      outputs: [
        {
          name: "label",
          datatype: "INT64",
          shape: [3],
          contents: { int64_contents: [-1, 0, -(2 ** 53 - 1)] },
        },
        {
          name: "big",
          datatype: "INT64",
          shape: [2],
          contents: { int64_contents: [2 ** 53 - 1, 2 ** 32] },
        },
        {
          name: "class",
          datatype: "BYTES",
          shape: [2],
          contents: { bytes_contents: [Buffer.from("a"), Buffer.from("")] },
        },
        {
          name: "probabilities",
          datatype: "FP64",
          shape: [2, 2],
          contents: { fp64_contents: [0.25, 0.75, 1, 0] },
        },
        { name: "empty", datatype: "FP64", shape: [0], contents: { fp64_contents: [] } },
        {
          name: "others",
          datatype: "X",
          shape: [],
          contents: {
            bool_contents: [true, false],
            int_contents: [1, 2 ** 31 - 1],
            uint_contents: [0],
            uint64_contents: [2 ** 40],
            fp32_contents: [0.5],
          },
        },
      ],
    });
    const raw = Buffer.from(new Float64Array([1, 2, 3]).buffer);
    expectSameBytes({
      ...base,
      outputs: [{ name: "duration", datatype: "FP64", shape: [3] }],
      raw_output_contents: [raw, Buffer.alloc(0)],
    });
    expectSameBytes({ ...base, outputs: [], raw_output_contents: [Buffer.alloc(70_000, 1)] });
  });

  it("declines what protobufjs writes its own way", () => {
    const declined = (response: ModelInferResponse) =>
      expect(encodeModelInferResponse(response)).toBeUndefined();
    declined({ ...base, id: "\ud800", outputs: [] });
    declined({
      ...base,
      outputs: [
        { name: "x", datatype: "INT64", shape: [1], contents: { int64_contents: [2 ** 60] } },
      ],
    });
    declined({
      ...base,
      outputs: [{ name: "x", datatype: "INT32", shape: [1], contents: { int_contents: [-3] } }],
    });
    declined({ ...base, outputs: [{ name: "x", datatype: "FP64", shape: [1.5] }] });
  });
});
