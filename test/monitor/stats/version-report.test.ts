/**
 * computeVersionReport on DuckDB window tables against drift.ts's in-memory rules on the same
 * rows: every number must agree to 1e-9 (relative, or 1e-12 absolute near 0); counts,
 * kinds, methods, missing shares, quantiles and new categories exactly.
 */
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Cell,
  type ColumnDrift,
  type ColumnDtype,
  columnDrift,
  datasetDrift,
  inferKind,
  missingShare,
  newCategoryShare,
  quantiles,
} from "../../../src/monitor/drift.js";
import { computeVersionReport } from "../../../src/monitor/job/stats/index.js";
import type { VersionReport, WindowFrame } from "../../../src/monitor/job/types.js";
import { categorical, normal, rng } from "../random.js";
import { loadWindow, type TestColumn, type TestWindow, valuesOf, withGaps } from "./windows.js";

const PROBABILITIES = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1];

function expectClose(actual: number, expected: number, label: string): void {
  if (!Number.isFinite(expected)) {
    expect(actual, label).toBe(expected);
    return;
  }
  const err = Math.abs(actual - expected);
  const ok = err <= 1e-9 * Math.abs(expected) || err <= 1e-12;
  expect(ok, `${label}: got ${actual}, drift.ts ${expected} (|diff| ${err})`).toBe(true);
}

function dtypeOf(ref: TestWindow, cur: TestWindow, name: string): ColumnDtype {
  return (cur.columns.find((c) => c.name === name) ?? ref.columns.find((c) => c.name === name))!
    .dtype;
}

function compareDrift(got: ColumnDrift, expected: ColumnDrift, label: string): void {
  expect(got.status, label).toBe(expected.status);
  expect(got.kind, label).toBe(expected.kind);
  expect(got.referenceCount, label).toBe(expected.referenceCount);
  expect(got.currentCount, label).toBe(expected.currentCount);
  if (got.status === "no_data" && expected.status === "no_data") {
    expect(got.reason, label).toBe(expected.reason);
    return;
  }
  if (got.status !== "ok" || expected.status !== "ok") throw new Error("unreachable");
  expect(got.method, label).toBe(expected.method);
  expect(got.scoreKind, label).toBe(expected.scoreKind);
  expect(got.threshold, label).toBe(expected.threshold);
  expectClose(got.score, expected.score, `${label} score`);
  expect(got.drifted, label).toBe(expected.drifted);
}

/** Checks a report against drift.ts on the same rows; returns each column's method. */
function compareWithDriftTs(
  report: VersionReport,
  ref: TestWindow,
  cur: TestWindow,
  version: string | null,
  driftShare = 0.5,
): Record<string, string> {
  const methods: Record<string, string> = {};
  const expectedDrifts: ColumnDrift[] = [];
  const names = [
    ...cur.columns.map((c) => c.name),
    ...ref.columns.map((c) => c.name).filter((n) => !cur.columns.some((c) => c.name === n)),
  ];
  expect(report.columns.map((c) => c.name)).toEqual(names);
  const rows =
    version === null ? cur.versions.length : cur.versions.filter((v) => v === version).length;
  expect(report.rows).toBe(rows);
  expect(report.status).toBe(rows === 0 ? "no_data" : "ok");
  for (const column of report.columns) {
    const label = `${column.name} (version ${version})`;
    const refValues = valuesOf(ref, column.name, null);
    let curValues = valuesOf(cur, column.name, version);
    // A column the current window lacks reads as missing in each of its rows.
    if (!cur.columns.some((c) => c.name === column.name))
      curValues = new Array<Cell>(rows).fill(null);
    const refRows = ref.columns.some((c) => c.name === column.name)
      ? refValues
      : new Array<Cell>(ref.versions.length).fill(null);
    const kind = inferKind(refRows, dtypeOf(ref, cur, column.name));
    expect(column.kind, label).toBe(kind);
    const expected = columnDrift(refRows, curValues, { kind });
    expectedDrifts.push(expected);
    compareDrift(column.drift, expected, label);
    methods[column.name] = column.drift.status === "ok" ? column.drift.method : column.drift.reason;
    expect(column.missing.reference, label).toEqual(missingShare(refRows));
    expect(column.missing.current, label).toEqual(missingShare(curValues));
    if (kind === "numerical") {
      // Exact order statistics and stats.ts's own interpolation: bit-identical to numpy's rule
      // (-0 and 0 are one value to DuckDB's GROUP BY, as to numpy's sort).
      const noNegativeZero = (q: number[] | null | undefined) => q?.map((v) => v + 0) ?? null;
      expect(column.quantiles?.probabilities, label).toEqual(PROBABILITIES);
      expect(noNegativeZero(column.quantiles?.reference), label).toEqual(
        noNegativeZero(quantiles(refRows, PROBABILITIES)),
      );
      expect(noNegativeZero(column.quantiles?.current), label).toEqual(
        noNegativeZero(quantiles(curValues, PROBABILITIES)),
      );
      const finite = (values: Cell[]) =>
        values.filter((v) => typeof v === "number" && Number.isFinite(v)).length;
      if (column.histogram.kind !== "numerical") throw new Error(`${label}: histogram kind`);
      expect(column.histogram.edges).toHaveLength(21);
      expect(
        column.histogram.reference.reduce((s, n) => s + n, 0),
        label,
      ).toBe(finite(refRows));
      expect(
        column.histogram.current.reduce((s, n) => s + n, 0),
        label,
      ).toBe(finite(curValues));
      expect(column.newCategories).toBeUndefined();
    } else {
      expect(column.newCategories, label).toEqual(newCategoryShare(refRows, curValues));
      if (column.histogram.kind !== "categorical") throw new Error(`${label}: histogram kind`);
      const h = column.histogram;
      expect(h.categories.length).toBeLessThanOrEqual(20);
      const sum = (values: number[]) => values.reduce((s, n) => s + n, 0);
      expect(sum(h.reference) + h.otherReference, label).toBe(column.drift.referenceCount);
      expect(sum(h.current) + h.otherCurrent, label).toBe(column.drift.currentCount);
      expect(column.quantiles).toBeUndefined();
    }
  }
  const dataset = datasetDrift(expectedDrifts, driftShare);
  expect(report.dataset.status).toBe(dataset.status);
  if (report.dataset.status === "ok" && dataset.status === "ok") {
    expect(report.dataset.columns).toBe(dataset.columns);
    expect(report.dataset.driftedColumns).toBe(dataset.driftedColumns);
    expectClose(report.dataset.share, dataset.share, "dataset share");
    expect(report.dataset.datasetDrift).toBe(dataset.datasetDrift);
  }
  return methods;
}

const COLUMNS: TestColumn[] = [
  { name: "trip_distance", dtype: "float" },
  { name: "PULocationID", dtype: "integer" },
  { name: "rating", dtype: "integer" },
  { name: "zone", dtype: "string" },
  { name: "flag", dtype: "boolean" },
  { name: "level", dtype: "float" },
  { name: "duration", dtype: "float", role: "prediction" },
];

const GAPS: Cell[] = [null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/** A window of n rows; `shift` moves every distribution, categories included. */
function generate(
  table: string,
  seed: number,
  n: number,
  versions: (string | null)[],
  shift: number,
): TestWindow {
  const next = rng(seed);
  const zones = shift > 0 ? ["A", "B", "C", "D", "F"] : ["A", "B", "C", "D", "E"];
  return {
    table,
    columns: COLUMNS,
    versions: Array.from({ length: n }, () => versions[Math.floor(next() * versions.length)]),
    ids: Array.from({ length: n }, (_, i) => `${table}-${i}`),
    values: {
      trip_distance: withGaps(normal(seed, n, 3 + shift, 1.5), 37, 5, GAPS),
      PULocationID: withGaps(
        normal(seed + 1, n, 30 + 10 * shift, 12, 0).map((v) => Math.min(Math.max(v, 1), 265)),
        53,
        7,
      ),
      rating: categorical(seed + 2, n, [1, 2, 3, 4, 5, 6], [1, 2, 3 + 4 * shift, 3, 2, 1]),
      zone: withGaps(categorical(seed + 3, n, zones, [5, 4, 3, 2 + shift, 1]), 41, 3),
      flag: categorical(seed + 4, n, [true, false], [3, 2 + shift]),
      level: withGaps(categorical(seed + 5, n, [0.5, 1, 1.5], [1, 1, 1 + shift]), 29, 2, [
        Number.NaN,
      ]),
      duration: normal(seed + 6, n, 12 + 2 * shift, 4),
    },
  };
}

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
});

afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

async function report(
  reference: WindowFrame,
  current: WindowFrame,
  version: string | null,
): Promise<VersionReport> {
  return computeVersionReport(connection, {
    reference,
    current,
    version,
    driftShare: 0.5,
    rmseFactor: 1.2,
    probabilities: PROBABILITIES,
  });
}

describe("computeVersionReport agrees with drift.ts on the same rows", () => {
  it("reference ≤ 1,000 rows: KS, chi-squared and Z paths, per version and for all rows", async () => {
    const ref = generate("ref_small", 11, 300, [null], 0);
    const cur = generate("cur_small", 12, 700, ["1", "2", "2"], 0.6);
    const refFrame = await loadWindow(connection, ref, "training");
    const curFrame = await loadWindow(connection, cur);
    for (const version of ["1", "2", null]) {
      const methods = compareWithDriftTs(
        await report(refFrame, curFrame, version),
        ref,
        cur,
        version,
      );
      expect(methods).toEqual({
        trip_distance: "ks",
        PULocationID: "ks",
        rating: "chisquare",
        zone: "chisquare",
        flag: "z",
        level: "chisquare",
        duration: "ks",
      });
    }
  });

  it("reference > 1,000 rows: Wasserstein and Jensen–Shannon paths", async () => {
    const ref = generate("ref_large", 21, 5000, [null], 0);
    const cur = generate("cur_large", 22, 20000, ["1", "2"], 0.3);
    const refFrame = await loadWindow(connection, ref, "training");
    const curFrame = await loadWindow(connection, cur);
    for (const version of ["2", null]) {
      const methods = compareWithDriftTs(
        await report(refFrame, curFrame, version),
        ref,
        cur,
        version,
      );
      expect(methods).toEqual({
        trip_distance: "wasserstein",
        PULocationID: "wasserstein",
        rating: "jensenshannon",
        zone: "jensenshannon",
        flag: "jensenshannon",
        level: "jensenshannon",
        duration: "wasserstein",
      });
    }
  });

  it("small reference, large current: KS exact (n ≤ 10,000) and asymptotic", async () => {
    const ref = generate("ref_ks", 31, 800, [null], 0);
    // Version 3 has ~12,000 rows (asymptotic p-value), version 4 ~3,000 (exact, n1 ≠ n2).
    const cur = generate("cur_ks", 32, 15000, ["3", "3", "3", "3", "4"], 0.05);
    const refFrame = await loadWindow(connection, ref, "training");
    const curFrame = await loadWindow(connection, cur);
    for (const version of ["3", "4"]) {
      const methods = compareWithDriftTs(
        await report(refFrame, curFrame, version),
        ref,
        cur,
        version,
      );
      expect(methods.trip_distance).toBe("ks");
      expect(methods.duration).toBe("ks");
    }
  });

  it("ties, a constant column, ≤ 5 and 6 distinct numbers, negative zero", async () => {
    const columns: TestColumn[] = [
      { name: "rounded", dtype: "float" },
      { name: "constant", dtype: "float" },
      { name: "five", dtype: "float" },
      { name: "six", dtype: "float" },
      { name: "zeros", dtype: "float" },
      { name: "count", dtype: "integer", sqlType: "INTEGER" },
    ];
    const make = (table: string, seed: number, n: number, extra: number): TestWindow => ({
      table,
      columns,
      versions: new Array<string>(n).fill("1"),
      values: {
        rounded: normal(seed, n, 0, 2, 0),
        constant: new Array<Cell>(n).fill(7),
        five: categorical(seed + 1, n, [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]),
        // Five values in the reference, a sixth only in the current: back to KS.
        six: categorical(seed + 2, n, [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, extra]),
        zeros: categorical(seed + 3, n, [0, -0, 1], [1, 1, 1]),
        count: categorical(seed + 4, n, [...Array(12).keys()], new Array(12).fill(1)),
      },
    });
    const ref = make("ref_ties", 41, 400, 0);
    const cur = make("cur_ties", 42, 300, 1);
    const methods = compareWithDriftTs(
      await report(await loadWindow(connection, ref), await loadWindow(connection, cur), "1"),
      ref,
      cur,
      "1",
    );
    expect(methods).toEqual({
      rounded: "ks",
      constant: "z",
      five: "chisquare",
      six: "ks",
      zeros: "z",
      count: "ks",
    });
  });

  it("an empty current window: no data, nothing divided by zero", async () => {
    const ref = generate("ref_empty", 51, 300, [null], 0);
    const cur = generate("cur_empty", 52, 200, ["1"], 0);
    const refFrame = await loadWindow(connection, ref, "training");
    const curFrame = await loadWindow(connection, cur);
    const result = await report(refFrame, curFrame, "9");
    compareWithDriftTs(result, ref, cur, "9");
    expect(result.status).toBe("no_data");
    expect(result.rows).toBe(0);
    expect(result.dataset).toEqual({ status: "no_data", columns: 0, driftShare: 0.5 });
    for (const column of result.columns) {
      expect(column.drift).toMatchObject({ status: "no_data", reason: "empty_current" });
      expect(column.missing.current).toEqual({ total: 0, missing: 0, share: null });
      if (column.kind === "numerical") expect(column.quantiles?.current).toBeNull();
      else expect(column.newCategories?.share).toBeNull();
    }
  });

  it("an empty reference, an all-missing column, columns on one side only", async () => {
    const refColumns: TestColumn[] = [
      { name: "a", dtype: "float" },
      { name: "gone", dtype: "string" },
      { name: "blank", dtype: "float" },
    ];
    const curColumns: TestColumn[] = [
      { name: "a", dtype: "float" },
      { name: "added", dtype: "integer" },
      { name: "blank", dtype: "float" },
    ];
    const ref: TestWindow = {
      table: "ref_sides",
      columns: refColumns,
      versions: new Array<null>(50).fill(null),
      values: {
        a: normal(61, 50),
        gone: categorical(62, 50, ["x", "y", "z"], [1, 1, 1]),
        blank: withGaps(new Array<Cell>(50).fill(1), 1, 0, GAPS),
      },
    };
    const cur: TestWindow = {
      table: "cur_sides",
      columns: curColumns,
      versions: new Array<string>(40).fill("1"),
      values: {
        a: normal(63, 40),
        added: categorical(64, 40, [1, 2, 3], [1, 1, 1]),
        blank: normal(65, 40),
      },
    };
    const refFrame = await loadWindow(connection, ref, "training");
    const curFrame = await loadWindow(connection, cur);
    const methods = compareWithDriftTs(await report(refFrame, curFrame, "1"), ref, cur, "1");
    expect(methods).toEqual({
      a: "ks",
      added: "empty_reference",
      blank: "empty_reference",
      gone: "empty_current",
    });

    const none: TestWindow = {
      ...ref,
      table: "ref_none",
      versions: [],
      values: { a: [], gone: [], blank: [] },
    };
    const noneFrame = await loadWindow(connection, none, "training");
    const empty = await report(noneFrame, curFrame, "1");
    compareWithDriftTs(empty, none, cur, "1");
    expect(empty.status).toBe("ok");
    expect(empty.dataset.status).toBe("no_data");
  });

  it("histograms: numerical on 20 shared bins over the union's range, categories top 20 + other", async () => {
    const columns: TestColumn[] = [
      { name: "x", dtype: "float" },
      { name: "c", dtype: "string" },
    ];
    const labels = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    const make = (table: string, seed: number, n: number, shift: number): TestWindow => ({
      table,
      columns,
      versions: new Array<string>(n).fill("1"),
      values: {
        x: withGaps(normal(seed, n, shift, 1), 17, 0, GAPS),
        c: categorical(
          seed + 1,
          n,
          labels,
          labels.map((_, i) => 30 - i + (i === 25 ? shift * 200 : 0)),
        ),
      },
    });
    const ref = make("ref_hist", 71, 2000, 0);
    const cur = make("cur_hist", 72, 1000, 1);
    const result = await report(
      await loadWindow(connection, ref),
      await loadWindow(connection, cur),
      "1",
    );
    const [x, c] = result.columns;
    if (x.histogram.kind !== "numerical" || c.histogram.kind !== "categorical")
      throw new Error("histogram kinds");
    const finite = [...valuesOf(ref, "x", null), ...valuesOf(cur, "x", "1")].filter(
      (v): v is number => typeof v === "number" && Number.isFinite(v),
    );
    expect(x.histogram.edges[0]).toBe(Math.min(...finite));
    expect(x.histogram.edges[20]).toBe(Math.max(...finite));
    expect(x.histogram.reference.every((n) => n >= 0)).toBe(true);
    // The category the current window favours is listed even though the reference has it rarely.
    expect(c.histogram.categories).toHaveLength(20);
    expect(c.histogram.categories).toContain("k25");
    expect(c.histogram.categories[0]).toBe("k25");
    expect(c.histogram.otherReference).toBeGreaterThan(0);
  });
});
