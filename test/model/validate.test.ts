import { describe, expect, it } from "vitest";
import { applyFeatures } from "../../src/model/transform.js";
import { validateColumns, validateRecords } from "../../src/model/validate.js";
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
      message: 'must be a finite number, got "NaN"',
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
