import { describe, expect, it } from "vitest";
import { decodeRawTensor, elementCount, encodeRawTensor } from "../../src/serve/v2/raw-tensor.js";
import { RequestError } from "../../src/serve/errors.js";
import { pythonHas, runPython } from "../helpers/python.js";

const HAS_NUMPY = pythonHas("numpy");

/** Bytes written by numpy / struct, an encoder independent of mldeploy's. */
function pythonBytes(expression: string): Uint8Array {
  const hex = runPython(`import numpy as np, struct, sys\nsys.stdout.write((${expression}).hex())`);
  return Uint8Array.from(Buffer.from(hex.trim(), "hex"));
}

function statusOf(action: () => unknown): number | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof RequestError) return error.statusCode;
    throw error;
  }
  return undefined;
}

describe.skipIf(!HAS_NUMPY)(
  "raw tensor bytes (Triton extension_binary_data.md, grpc_predict_v2.proto raw contents)",
  () => {
    it("decodes every fixed-size datatype as numpy writes it, little-endian and unpadded", () => {
      const cases: Array<[string, string, number[]]> = [
        ["FP64", "np.array([1.5, -2.25, 1e300], '<f8').tobytes()", [1.5, -2.25, 1e300]],
        ["FP32", "np.array([1.5, -2.25, 3], '<f4').tobytes()", [1.5, -2.25, 3]],
        ["FP16", "np.array([1.5, -2.25, 65504], '<f2').tobytes()", [1.5, -2.25, 65504]],
        [
          "INT64",
          "np.array([-9007199254740991, 0, 265], '<i8').tobytes()",
          [-9007199254740991, 0, 265],
        ],
        ["UINT64", "np.array([1, 2, 4294967296], '<u8').tobytes()", [1, 2, 4294967296]],
        [
          "INT32",
          "np.array([-2147483648, 7, 2147483647], '<i4').tobytes()",
          [-2147483648, 7, 2147483647],
        ],
        ["UINT32", "np.array([0, 7, 4294967295], '<u4').tobytes()", [0, 7, 4294967295]],
        ["INT16", "np.array([-32768, 7, 32767], '<i2').tobytes()", [-32768, 7, 32767]],
        ["UINT16", "np.array([0, 7, 65535], '<u2').tobytes()", [0, 7, 65535]],
        ["INT8", "np.array([-128, 7, 127], '<i1').tobytes()", [-128, 7, 127]],
        ["UINT8", "np.array([0, 7, 255], '<u1').tobytes()", [0, 7, 255]],
      ];
      for (const [datatype, expression, expected] of cases) {
        const bytes = pythonBytes(expression);
        // An odd offset inside a larger buffer, as a part of an HTTP body or protobuf message is.
        const shifted = new Uint8Array(bytes.length + 1);
        shifted.set(bytes, 1);
        for (const input of [bytes, shifted.subarray(1)]) {
          expect(
            Array.from(decodeRawTensor("x", datatype, 3, input) as ArrayLike<number>),
            datatype,
          ).toEqual(expected);
        }
      }
    });

    it("decodes BOOL bytes and length-prefixed UTF-8 BYTES elements", () => {
      expect(
        Array.from(
          decodeRawTensor("b", "BOOL", 3, pythonBytes("np.array([True, False, True]).tobytes()")),
        ),
      ).toEqual([true, false, true]);
      const text = pythonBytes(
        "b''.join(struct.pack('<I', len(s)) + s for s in ['10_50'.encode(), ''.encode(), 'zoné'.encode()])",
      );
      expect(decodeRawTensor("s", "BYTES", 3, text)).toEqual(["10_50", "", "zoné"]);
    });

    it("answers 400 naming the input when the bytes do not make the shape's elements", () => {
      const eight = new Uint8Array(8);
      expect(statusOf(() => decodeRawTensor("trip_distance", "FP64", 2, eight))).toBe(400);
      expect(() => decodeRawTensor("trip_distance", "FP64", 2, eight)).toThrow(
        /trip_distance.*8 bytes/,
      );
      expect(statusOf(() => decodeRawTensor("b", "BOOL", 1, Uint8Array.of(2)))).toBe(400);
      // A length past the end, a short length prefix, too many and too few elements, bad UTF-8.
      expect(statusOf(() => decodeRawTensor("s", "BYTES", 1, Uint8Array.of(9, 0, 0, 0, 65)))).toBe(
        400,
      );
      expect(statusOf(() => decodeRawTensor("s", "BYTES", 1, Uint8Array.of(1, 0)))).toBe(400);
      expect(
        statusOf(() =>
          decodeRawTensor("s", "BYTES", 1, Uint8Array.of(1, 0, 0, 0, 65, 1, 0, 0, 0, 66)),
        ),
      ).toBe(400);
      expect(statusOf(() => decodeRawTensor("s", "BYTES", 2, Uint8Array.of(1, 0, 0, 0, 65)))).toBe(
        400,
      );
      expect(
        statusOf(() => decodeRawTensor("s", "BYTES", 1, Uint8Array.of(1, 0, 0, 0, 0xff))),
      ).toBe(400);
      expect(statusOf(() => decodeRawTensor("x", "COMPLEX", 1, eight))).toBe(400);
    });

    it("encodes FP64, INT64 and BYTES outputs as numpy reads them", () => {
      const fp64 = encodeRawTensor({
        name: "duration",
        datatype: "FP64",
        shape: [2],
        data: Float64Array.of(21.5, -1e-300),
      });
      const int64 = encodeRawTensor({
        name: "label",
        datatype: "INT64",
        shape: [2],
        data: [3, -9007199254740991],
      });
      const bytes = encodeRawTensor({
        name: "label",
        datatype: "BYTES",
        shape: [2],
        data: ["long", "zoné"],
      });
      const read = runPython(
        [
          "import numpy as np, struct, sys",
          "fp64, int64, text = (bytes.fromhex(x) for x in sys.argv[1:4])",
          "print(list(np.frombuffer(fp64, '<f8')), list(np.frombuffer(int64, '<i8')))",
          "out, o = [], 0",
          "while o < len(text):",
          "    (n,) = struct.unpack_from('<I', text, o); out.append(text[o + 4:o + 4 + n].decode()); o += 4 + n",
          "print(out)",
        ].join("\n"),
        [fp64.toString("hex"), int64.toString("hex"), bytes.toString("hex")],
      );
      expect(read.trim().split("\n")).toEqual([
        "[21.5, -1e-300] [3, -9007199254740991]",
        "['long', 'zoné']",
      ]);
    });

    it("counts a shape's elements", () => {
      expect(elementCount([3, 1])).toBe(3);
      expect(elementCount([0])).toBe(0);
      expect(elementCount([-1])).toBeUndefined();
      expect(elementCount("3")).toBeUndefined();
    });
  },
);
