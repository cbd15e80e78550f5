import { describe, expect, it } from "vitest";
import { applyFeatures } from "../../src/model/transform.js";
import {
  checkValue,
  validateColumnReaders,
  validateColumns,
  validateRecords,
} from "../../src/model/validate.js";
import type { ColumnSpec } from "../../src/model/types.js";

const schema: ColumnSpec[] = [
  { name: "PULocationID", type: "long", minimum: 1 },
  { name: "DOLocationID", type: "long", minimum: 1 },
  { name: "trip_distance", type: "double", minimum: 0 },
];

describe("validateRecords", () => {
  it("turns valid records into typed columns and ignores extra keys", () => {
    const result = validateRecords(
      [
        { PULocationID: 10, DOLocationID: 50, trip_distance: 40, ride_id: "x" },
        { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
      ],
      schema,
    );
    expect(result.errors).toEqual([]);
    expect(result.batch.rows).toBe(2);
    expect(Array.from(result.batch.columns.trip_distance as Float64Array)).toEqual([40, 3.66]);
    expect(result.rowIndex).toEqual([0, 1]);
  });

  it.each([
    [{ DOLocationID: 50, trip_distance: 1 }, "PULocationID", "is required"],
    [{ PULocationID: null, DOLocationID: 50, trip_distance: 1 }, "PULocationID", "is required"],
    [
      { PULocationID: "10", DOLocationID: 50, trip_distance: 1 },
      "PULocationID",
      'must be a number, got "10"',
    ],
    [
      { PULocationID: 1.5, DOLocationID: 50, trip_distance: 1 },
      "PULocationID",
      "must be an integer, got 1.5",
    ],
    [
      { PULocationID: true, DOLocationID: 50, trip_distance: 1 },
      "PULocationID",
      "must be a number, got true",
    ],
    [
      { PULocationID: 0, DOLocationID: 50, trip_distance: 1 },
      "PULocationID",
      "must be >= 1, got 0",
    ],
    [
      { PULocationID: 10, DOLocationID: 50, trip_distance: -2 },
      "trip_distance",
      "must be >= 0, got -2",
    ],
    [
      { PULocationID: 10, DOLocationID: 50, trip_distance: Number.NaN },
      "trip_distance",
      "must be a finite number, got NaN",
    ],
    [
      { PULocationID: 10, DOLocationID: 50, trip_distance: [1] },
      "trip_distance",
      "must be a number, got an array",
    ],
  ])("rejects %j naming %s", (record, field, message) => {
    const result = validateRecords([record], schema);
    expect(result.batch.rows).toBe(0);
    expect(result.invalidRows).toBe(1);
    expect(result.errors[0]).toEqual({ row: 0, field, message });
  });

  it("keeps the valid rows of a mixed batch and maps them back to their input rows", () => {
    const result = validateRecords(
      [
        { PULocationID: 1, DOLocationID: 2, trip_distance: 1 },
        "not an object",
        { PULocationID: 3, DOLocationID: 4, trip_distance: -1 },
        { PULocationID: 5, DOLocationID: 6, trip_distance: 2 },
      ],
      schema,
    );
    expect(result.rowIndex).toEqual([0, 3]);
    expect(result.invalidRows).toBe(2);
    expect(result.errors.map((e) => [e.row, e.field])).toEqual([
      [1, ""],
      [2, "trip_distance"],
    ]);
    expect(Array.from(result.batch.columns.PULocationID as Float64Array)).toEqual([1, 5]);
  });

  it("caps recorded errors but counts every invalid row", () => {
    const records = Array.from({ length: 500 }, () => ({}));
    const result = validateRecords(records, schema, { maxErrors: 10 });
    expect(result.errors).toHaveLength(10);
    expect(result.invalidRows).toBe(500);
  });

  it("coerces numeric strings only when asked (CSV), and still rejects NaN text", () => {
    const ok = validateColumns(
      { PULocationID: ["10"], DOLocationID: ["50"], trip_distance: ["4.5"] },
      1,
      schema,
      {
        coerceStrings: true,
      },
    );
    expect(ok.errors).toEqual([]);
    const bad = validateColumns(
      { PULocationID: ["10"], DOLocationID: ["50"], trip_distance: ["NaN"] },
      1,
      schema,
      {
        coerceStrings: true,
      },
    );
    expect(bad.errors[0]).toMatchObject({
      field: "trip_distance",
      message: "must be a finite number, got NaN",
    });
  });

  it("fills optional columns with NaN instead of rejecting the row", () => {
    const result = validateRecords(
      [{ a: 1 }],
      [
        { name: "a", type: "double" },
        { name: "b", type: "double", required: false },
      ],
    );
    expect(result.errors).toEqual([]);
    expect(Number.isNaN((result.batch.columns.b as Float64Array)[0])).toBe(true);
  });
});

/** What checkValue makes of a text (a CSV cell, a SQL text column) for a double column. */
function coerced(text: string, spec: ColumnSpec = { name: "x", type: "double" }) {
  return checkValue(text, spec, true);
}

describe("numbers written as text (coerceStrings: CSV, SQL text, query strings)", () => {
  it.each([
    ["0", 0],
    ["-0", -0],
    ["7", 7],
    ["-12", -12],
    ["0.5", 0.5],
    ["10.25", 10.25],
    ["1e5", 100000],
    ["1E5", 100000],
    ["1.5E-3", 0.0015],
    ["2e+2", 200],
    ["-0.0", -0],
    [" 1 ", 1],
    ["\t3.5\r\n", 3.5],
  ])("reads the decimal %j as %d, as JSON would", (text, value) => {
    expect(coerced(text)).toEqual({ ok: true, value });
    expect(JSON.parse(text)).toBe(value);
  });

  it.each([
    "0x10",
    "0X1F",
    "0b101",
    "0o17",
    "010",
    "00",
    "-01",
    "+1",
    "1.",
    ".5",
    "-.5",
    "1e",
    "1e+",
    "1_000",
    "1,5",
    "1 2",
    "--1",
    "ten",
    "   ",
    "1\u00a0",
    "\u20071",
  ])("refuses %j as no number at all", (text) => {
    expect(coerced(text)).toEqual({
      ok: false,
      message: `must be a number, got ${JSON.stringify(text)}`,
    });
  });

  it.each(["NaN", "nan", "-nan", " NaN "])("gives text %j the reason of a NaN number", (text) => {
    expect(coerced(text)).toEqual({ ok: false, message: "must be a finite number, got NaN" });
    expect(coerced(text)).toEqual(checkValue(Number.NaN, { name: "x", type: "double" }));
  });

  it.each([
    ["Infinity", "Infinity"],
    ["inf", "Infinity"],
    ["+Infinity", "Infinity"],
    ["-Infinity", "-Infinity"],
    ["-inf", "-Infinity"],
    ["1e400", '"1e400"'],
  ])("refuses the non-finite %j", (text, shown) => {
    expect(coerced(text)).toEqual({ ok: false, message: `must be a finite number, got ${shown}` });
  });

  it("treats an empty cell as missing, and text as text where coercion is off (JSON)", () => {
    expect(coerced("")).toEqual({ ok: false, message: "is required" });
    expect(checkValue("1", { name: "x", type: "double" })).toEqual({
      ok: false,
      message: 'must be a number, got "1"',
    });
  });

  it("applies the integer and range rules to text as to numbers", () => {
    const long: ColumnSpec = { name: "x", type: "long", minimum: 1, maximum: 10 };
    expect(coerced("1e1", long)).toEqual({ ok: true, value: 10 });
    expect(coerced("2.0", long)).toEqual({ ok: true, value: 2 });
    expect(coerced("2.5", long)).toEqual({ ok: false, message: "must be an integer, got 2.5" });
    expect(coerced("1e2", long)).toEqual({ ok: false, message: "must be <= 10, got 100" });
    expect(coerced("0", long)).toEqual({ ok: false, message: "must be >= 1, got 0" });
  });
});

describe("datatype ranges", () => {
  it.each([
    [
      { name: "x", type: "integer" } as ColumnSpec,
      2147483648,
      "must fit in 32 bits, got 2147483648",
    ],
    [
      { name: "x", type: "integer" } as ColumnSpec,
      -2147483649,
      "must fit in 32 bits, got -2147483649",
    ],
    [
      { name: "x", type: "long" } as ColumnSpec,
      2 ** 53,
      "must be a safe integer, got 9007199254740992",
    ],
    [{ name: "x", type: "float" } as ColumnSpec, 1e300, "must fit in a 32-bit float, got 1e+300"],
    [
      { name: "x", type: "float" } as ColumnSpec,
      -3.5e38,
      "must fit in a 32-bit float, got -3.5e+38",
    ],
  ])("rejects a value outside %j's type, through the fast path too", (spec, value, message) => {
    const result = validateRecords([{ x: value }], [spec]);
    expect(result.errors).toEqual([{ row: 0, field: "x", message }]);
  });

  it("keeps the largest float32 and the int32 bounds", () => {
    const result = validateRecords(
      [{ f: 3.4028234663852886e38, i: -2147483648, j: 2147483647 }],
      [
        { name: "f", type: "float" },
        { name: "i", type: "integer" },
        { name: "j", type: "integer" },
      ],
    );
    expect(result.errors).toEqual([]);
  });
});

describe("NaN", () => {
  it("gets one reason whatever carried it: JS number, CSV text, database text, a column reader", () => {
    const spec: ColumnSpec = { name: "trip_distance", type: "double", minimum: 0, maximum: 1000 };
    const expected = {
      row: 0,
      field: "trip_distance",
      message: "must be a finite number, got NaN",
    };
    // A JSON body cannot hold NaN; a library caller or DuckDB/PostgreSQL REAL hands a JS NaN.
    expect(validateRecords([{ trip_distance: Number.NaN }], [spec]).errors).toEqual([expected]);
    expect(
      validateColumns({ trip_distance: [Number.NaN] }, 1, [spec], { coerceStrings: true }).errors,
    ).toEqual([expected]);
    // CSV cells and PostgreSQL NUMERIC/REAL as text.
    for (const text of ["NaN", "nan"]) {
      expect(
        validateColumnReaders({ trip_distance: () => text }, 1, [spec], { coerceStrings: true })
          .errors,
      ).toEqual([expected]);
    }
    // An optional column's NaN is a bad value too, not a missing one.
    const optional = { ...spec, required: false };
    expect(validateRecords([{ trip_distance: Number.NaN }], [optional]).errors).toEqual([expected]);
  });
});

describe("applyFeatures", () => {
  it("builds PU_DO as the original service did ('%s_%s' of the two ids)", () => {
    const { batch } = validateRecords(
      [{ PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 }],
      schema,
    );
    const features = applyFeatures(batch, {
      PU_DO: { concat: [{ column: "PULocationID" }, "_", { column: "DOLocationID" }] },
      trip_distance: { column: "trip_distance" },
    });
    expect(features.PU_DO).toEqual(["130_205"]);
    expect(Array.from(features.trip_distance as Float64Array)).toEqual([3.66]);
  });

  it("gives the same texts for pairs seen before, and for values that are not small integers", () => {
    const numbers = (values: number[]) => Float64Array.from(values);
    const batch = {
      rows: 6,
      columns: {
        a: numbers([130, 130, 1.5, 70000, -3, 130]),
        b: numbers([205, 205, 2, 1, 4, 7]),
      },
    };
    const forward = { concat: [{ column: "a" }, "_", { column: "b" }] };
    const backward = { concat: [{ column: "b" }, "-", { column: "a" }] };
    const expected = ["130_205", "130_205", "1.5_2", "70000_1", "-3_4", "130_7"];
    for (let pass = 0; pass < 2; pass++) {
      const features = applyFeatures(batch, { forward, backward });
      expect(features.forward).toEqual(expected);
      expect(features.backward).toEqual([
        "205-130",
        "205-130",
        "2-1.5",
        "1-70000",
        "4--3",
        "7-130",
      ]);
    }
    const next = applyFeatures(
      { rows: 2, columns: { a: numbers([130, 7]), b: numbers([7, 130]) } },
      { forward },
    );
    expect(next.forward).toEqual(["130_7", "7_130"]);
  });
});
