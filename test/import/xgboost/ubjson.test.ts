import { describe, expect, it } from "vitest";
import { ImportError } from "../../../src/import/types.js";
import { parseBaseScore } from "../../../src/import/xgboost/json-model.js";
import { detectFormat } from "../../../src/import/xgboost/read.js";
import { decodeUbjson, parseJsonText } from "../../../src/import/xgboost/ubjson.js";

/** Builds UBJSON bytes from pieces: strings are written as ASCII, numbers as single bytes. */
function bytes(...parts: Array<string | number[] | Uint8Array>): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "string") for (const c of part) out.push(c.charCodeAt(0));
    else out.push(...part);
  }
  return Uint8Array.from(out);
}
const i64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n));
  return b;
};
const f32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v);
  return b;
};
/** A key as XGBoost writes it: L + int64 length + bytes. */
const key = (k: string) => bytes("L", i64(k.length), k);

describe("UBJSON decoder", () => {
  it("reads XGBoost's layout: L-sized keys, #L arrays and $ typed arrays (big-endian)", () => {
    const doc = bytes(
      "{",
      key("split_conditions"),
      "[$d#L",
      i64(2),
      f32(0.5),
      f32(-1.25),
      key("left_children"),
      "[$l#L",
      i64(2),
      [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
      key("default_left"),
      "[$U#L",
      i64(2),
      [1, 0],
      key("sizes"),
      "[$L#L",
      i64(1),
      i64(-3),
      key("name"),
      "SL",
      i64(6),
      "gbtree",
      key("version"),
      "[#L",
      i64(3),
      "i",
      [1],
      "i",
      [7],
      "I",
      [0x01, 0x00],
      key("flags"),
      "[TFZ]",
      "}",
    );
    expect(decodeUbjson(doc)).toEqual({
      split_conditions: [0.5, -1.25],
      left_children: [1, -1],
      default_left: [1, 0],
      sizes: [-3],
      name: "gbtree",
      version: [1, 7, 256],
      flags: [true, false, null],
    });
  });

  it("reads what the spec allows beyond XGBoost: small length markers, optimized objects, no-ops, f64", () => {
    const doc = bytes(
      "{$D#U",
      [2],
      "U",
      [1],
      "a",
      new Uint8Array([0x3f, 0xf0, 0, 0, 0, 0, 0, 0]),
      "U",
      [1],
      "b",
      [0x40, 0, 0, 0, 0, 0, 0, 0],
    );
    expect(decodeUbjson(doc)).toEqual({ a: 1, b: 2 });
    expect(decodeUbjson(bytes("N[Ni", [5], "NN]"))).toEqual([5]);
  });

  it("keeps a key named __proto__ as a plain key", () => {
    const value = decodeUbjson(bytes("{", key("__proto__"), "i", [1], "}")) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(value.__proto__).toBe(1);
    const text = parseJsonText(new TextEncoder().encode('{"__proto__": {"x": 1}}')) as Record<
      string,
      unknown
    >;
    expect(Object.keys(text)).toEqual(["__proto__"]);
  });

  it("refuses truncated data, impossible counts, unknown markers and deep nesting with an ImportError", () => {
    const cases: Uint8Array[] = [
      bytes("{", key("a")), // value missing
      bytes("[$d#L", i64(1_000_000_000)), // a count the data cannot hold: no allocation
      bytes("[$d#L", i64(-1)),
      bytes("[#L", i64(2 ** 40), "i", [1]),
      bytes("SL", i64(10), "abc"),
      bytes("L", [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // beyond 2^53
      bytes("X"),
      bytes("[".repeat(100)),
      bytes("SL", i64(2), [0xc3, 0x28]), // invalid UTF-8
      bytes(),
    ];
    for (const doc of cases) {
      expect(() => decodeUbjson(doc, "test.ubj"), Buffer.from(doc).toString("hex")).toThrow(
        ImportError,
      );
    }
    expect(() => decodeUbjson(bytes("[$d#L", i64(3), f32(1)), "m.ubj")).toThrow(
      /m\.ubj: not a valid UBJSON document \(unexpected end of data/,
    );
  });

  it("reads NaN and Infinity in JSON text as XGBoost's writer puts them", () => {
    const text = '{"a": [NaN, -Infinity, Infinity, 1.5E0], "b": "NaN stays text"}';
    expect(parseJsonText(new TextEncoder().encode(text))).toEqual({
      a: [Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1.5],
      b: "NaN stays text",
    });
  });
});

describe("format detection and base_score", () => {
  it("tells JSON, UBJSON, the 1.0 snapshot and the legacy binary format apart", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(detectFormat(enc('{"learner": {}}'))).toBe("json");
    expect(detectFormat(enc('  {\n  "learner": {}}'))).toBe("json");
    expect(detectFormat(bytes("{L", i64(7), "learner{}}"))).toBe("ubjson");
    expect(detectFormat(enc("CONFIG-offset:xxxxxxxx"))).toBe("config-offset");
    expect(detectFormat(enc("binf\0\0\0?"))).toBe("binary");
  });

  it('reads base_score as 1.x–3.0 write it ("5E-1") and as 3.1 does ("[5E-1]", one per class)', () => {
    expect(parseBaseScore("5E-1", "m")).toEqual([0.5]);
    expect(parseBaseScore("[5E-1]", "m")).toEqual([0.5]);
    expect(parseBaseScore("[1E0,2.5E0,-3E-1]", "m")).toEqual([1, 2.5, -0.3]);
    expect(parseBaseScore("(1E0, 2E0)", "m")).toEqual([1, 2]);
    for (const bad of ["", "[", "[1,x]", "abc", "[]"]) {
      expect(() => parseBaseScore(bad, "m"), bad).toThrow(ImportError);
    }
  });
});
