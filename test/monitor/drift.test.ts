/**
 * Evidently's default drift rules, checked against hand-computed values. Evidently is not
 * installed here; the rules cite its legacy sources (github.com/evidentlyai/evidently,
 * src/evidently/legacy/calculations/…): stattests/registry.py `_get_default_stattest`,
 * stattests/{ks_stattest,chisquare_stattest,z_stattest,wasserstein_distance_norm,jensenshannon}.py,
 * stattests/utils.py `get_binned_data`, data_drift.py `get_one_column_drift` / `get_dataset_drift`.
 */
import { describe, expect, it } from "vitest";
import {
  type Cell,
  type ColumnDrift,
  columnDrift,
  datasetDrift,
  inferKind,
  missingShare,
  newCategoryShare,
  quantiles,
} from "../../src/monitor/index.js";
import { ks2samp } from "../../src/monitor/stats.js";
import { normal } from "./random.js";

function repeat<T>(value: T, n: number): T[] {
  return new Array<T>(n).fill(value);
}

function counts(spec: Record<string, number>): string[] {
  return Object.entries(spec).flatMap(([k, n]) => repeat(k, n));
}

function ok(drift: ColumnDrift): Extract<ColumnDrift, { status: "ok" }> {
  if (drift.status !== "ok")
    throw new Error(`expected a drift result, got ${JSON.stringify(drift)}`);
  return drift;
}

const range = (n: number, shift = 0): number[] => Array.from({ length: n }, (_, i) => i + shift);

describe("which test Evidently picks (registry.py _get_default_stattest)", () => {
  it("numerical: KS up to 1,000 reference rows, normed Wasserstein above", () => {
    expect(ok(columnDrift(range(1000), range(50), { kind: "numerical" })).method).toBe("ks");
    expect(ok(columnDrift(range(1001), range(50), { kind: "numerical" })).method).toBe(
      "wasserstein",
    );
  });

  it("numerical with at most 5 distinct values (both windows) is tested as a category", () => {
    const three = [1, 2, 3, 1, 2, 3, 1];
    expect(ok(columnDrift(three, [1, 2, 3], { kind: "numerical" })).method).toBe("chisquare");
    expect(ok(columnDrift([0, 1, 0, 1], [0, 0], { kind: "numerical" })).method).toBe("z");
    expect(ok(columnDrift([1, 2, 3, 4, 5], [1, 2], { kind: "numerical" })).method).toBe(
      "chisquare",
    );
    // Six values overall (5 in the reference plus one new) → back to KS.
    expect(ok(columnDrift([1, 2, 3, 4, 5], [6], { kind: "numerical" })).method).toBe("ks");
    expect(
      ok(columnDrift(repeat(1, 1001).concat([2, 3]), [1, 2], { kind: "numerical" })).method,
    ).toBe("jensenshannon");
  });

  it("categorical: chi-squared (or Z for ≤ 2 values) up to 1,000 rows, Jensen–Shannon above", () => {
    expect(
      ok(columnDrift(counts({ a: 5, b: 5, c: 5 }), ["a"], { kind: "categorical" })).method,
    ).toBe("chisquare");
    expect(ok(columnDrift(counts({ a: 5, b: 5 }), ["a"], { kind: "categorical" })).method).toBe(
      "z",
    );
    expect(ok(columnDrift(counts({ a: 600, b: 401 }), ["a"], { kind: "categorical" })).method).toBe(
      "jensenshannon",
    );
  });

  it("the row counts are taken after NaN and ±inf are dropped (data_drift.py get_one_column_drift)", () => {
    const reference: Cell[] = [...range(1000), Number.NaN, Number.POSITIVE_INFINITY, null];
    const drift = ok(
      columnDrift(reference, [1, 2, Number.NEGATIVE_INFINITY], { kind: "numerical" }),
    );
    expect(drift.method).toBe("ks");
    expect(drift.referenceCount).toBe(1000);
    expect(drift.currentCount).toBe(2);
  });
});

describe("scores and thresholds", () => {
  it("KS: the p-value of ks_2samp, drift when p ≤ 0.05 (ks_stattest.py)", () => {
    const ref = normal(1, 500);
    const same = normal(2, 300);
    const shifted = normal(3, 300, 0.5);
    const a = ok(columnDrift(ref, same, { kind: "numerical" }));
    expect(a.score).toBe(ks2samp(ref, same).pValue);
    expect(a).toMatchObject({ scoreKind: "p_value", threshold: 0.05, drifted: false });
    const b = ok(columnDrift(ref, shifted, { kind: "numerical" }));
    expect(b.score).toBeLessThan(0.05);
    expect(b.drifted).toBe(true);
  });

  it("Wasserstein normed by the reference's population std, drift at ≥ 0.1", () => {
    // W(0..1000, shifted by s) = s; np.std(0..1000) = sqrt((1001² - 1) / 12) = 288.9636655…
    const small = ok(columnDrift(range(1001), range(1001, 10), { kind: "numerical" }));
    expect(small.score).toBeCloseTo(0.03460642701029914, 12);
    expect(small).toMatchObject({
      method: "wasserstein",
      scoreKind: "distance",
      threshold: 0.1,
      drifted: false,
    });
    const large = ok(columnDrift(range(1001), range(1001, 30), { kind: "numerical" }));
    expect(large.score).toBeCloseTo(0.10381928103089741, 12);
    expect(large.drifted).toBe(true);
    // A constant reference: the norm is floored at 0.001 (wasserstein_distance_norm.py).
    const constant = ok(columnDrift(repeat(0, 1001), [1, 2, 3, 4, 5, 6], { kind: "numerical" }));
    expect(constant.score).toBeCloseTo(3.5 / 0.001, 6);
  });

  it("chi-squared: expected = reference counts × len(current)/len(reference), drift when p < 0.05", () => {
    // f_exp = 50, 30, 20; f_obs = 40, 40, 20 → χ² = 100/50 + 100/30 = 16/3; df 2 → p = e^(-8/3).
    const ref = counts({ a: 50, b: 30, c: 20 });
    const a = ok(columnDrift(ref, counts({ a: 40, b: 40, c: 20 }), { kind: "categorical" }));
    expect(a.score).toBeCloseTo(0.06948345122280154, 14);
    expect(a.drifted).toBe(false);
    // 200 current rows: k_norm = 2, f_exp = 100, 60, 40 → χ² = 4 + 20/3 = 32/3.
    const b = ok(columnDrift(ref, counts({ a: 80, b: 80, c: 40 }), { kind: "categorical" }));
    expect(b.score).toBeCloseTo(0.004827949993831441, 14);
    expect(b.drifted).toBe(true);
  });

  it("chi-squared with a category on one side only", () => {
    const ref = counts({ a: 50, b: 30, c: 20 });
    // Only in the reference: an observed 0 against 20 expected adds 20 → χ² = 76/3.
    const gone = ok(columnDrift(ref, counts({ a: 60, b: 40 }), { kind: "categorical" }));
    expect(gone.score / 3.1545438051702354e-6).toBeCloseTo(1, 9);
    expect(gone.drifted).toBe(true);
    // Only in the current window: expected 0, infinite χ², p = 0 (scipy ≥ 1.9 would refuse
    // the unequal totals; the limit is the honest answer: the window has something new).
    const fresh = ok(
      columnDrift(ref, counts({ a: 50, b: 30, c: 10, d: 10 }), { kind: "categorical" }),
    );
    expect(fresh.score).toBe(0);
    expect(fresh.drifted).toBe(true);
  });

  it("Z-test for two values: two-sided p of the proportions' difference (z_stattest.py)", () => {
    // p1 = 0.5, p2 = 0.7, pooled 0.6: z = -0.2 / sqrt(0.24 × 0.02) = -2.886751…
    const drift = ok(
      columnDrift(counts({ a: 50, b: 50 }), counts({ a: 30, b: 70 }), { kind: "categorical" }),
    );
    expect(drift.method).toBe("z");
    expect(drift.score).toBeCloseTo(0.0038924171227785465, 13);
    expect(drift.drifted).toBe(true);
    // One and the same value on both sides → p = 1.
    expect(ok(columnDrift(["a", "a"], ["a"], { kind: "categorical" }))).toMatchObject({
      score: 1,
      drifted: false,
    });
  });

  it("Jensen–Shannon over value shares, natural log, drift at ≥ 0.1 (feel_zeroes=False)", () => {
    // p = (½, ½), q = (1, 0): m = (¾, ¼), JS divergence = ¾ ln(4/3), distance = sqrt of it.
    const drift = ok(
      columnDrift(counts({ a: 1000, b: 1000 }), counts({ a: 10 }), { kind: "categorical" }),
    );
    expect(drift.method).toBe("jensenshannon");
    expect(drift.score).toBeCloseTo(0.46450140402245893, 14);
    expect(drift).toMatchObject({ scoreKind: "distance", threshold: 0.1, drifted: true });
    const same = ok(
      columnDrift(counts({ a: 1000, b: 1000 }), counts({ a: 7, b: 7 }), { kind: "categorical" }),
    );
    expect(same.score).toBe(0);
    expect(same.drifted).toBe(false);
  });
});

describe("scale", () => {
  it("a million values per window: one sort per side, no per-value Map", () => {
    const drift = ok(
      columnDrift(normal(5, 1_000_000), normal(6, 1_000_000, 0.2), { kind: "numerical" }),
    );
    expect(drift.method).toBe("wasserstein");
    // W between N(0,1) and N(0.2,1) is 0.2; normed by std ≈ 1.
    expect(drift.score).toBeCloseTo(0.2, 2);
    expect(drift.drifted).toBe(true);
  });
});

describe("no data", () => {
  it("an empty or all-missing window is no_data, never NaN", () => {
    expect(columnDrift(range(10), [], { kind: "numerical" })).toEqual({
      status: "no_data",
      kind: "numerical",
      reason: "empty_current",
      referenceCount: 10,
      currentCount: 0,
    });
    expect(columnDrift([null, undefined], ["a"], { kind: "categorical" })).toMatchObject({
      status: "no_data",
      reason: "empty_reference",
    });
    expect(missingShare([])).toEqual({ total: 0, missing: 0, share: null });
    expect(quantiles([])).toBeNull();
    expect(quantiles([null, Number.NaN])).toBeNull();
    expect(newCategoryShare(["a"], [null]).share).toBeNull();
  });

  it("names a non-numeric value in a numerical column", () => {
    expect(() => columnDrift([1, 2, "x"], [1], { kind: "numerical" })).toThrow(
      /reference\[2\] is string, not a number/,
    );
  });
});

describe("dataset drift (data_drift.py get_dataset_drift, drift_share 0.5)", () => {
  const drifted = ok(
    columnDrift(counts({ a: 50, b: 50 }), counts({ a: 30, b: 70 }), { kind: "categorical" }),
  );
  const stable = ok(
    columnDrift(counts({ a: 50, b: 50 }), counts({ a: 50, b: 50 }), { kind: "categorical" }),
  );
  const empty = columnDrift(["a"], [], { kind: "categorical" });

  it("drifts when at least half the columns drift", () => {
    expect(datasetDrift([drifted, stable, drifted, stable])).toEqual({
      status: "ok",
      columns: 4,
      driftedColumns: 2,
      share: 0.5,
      driftShare: 0.5,
      datasetDrift: true,
    });
    expect(datasetDrift([drifted, stable, stable])).toMatchObject({
      share: 1 / 3,
      datasetDrift: false,
    });
    expect(datasetDrift([drifted, stable, stable], 0.3)).toMatchObject({ datasetDrift: true });
  });

  it("leaves no_data columns out, and is no_data itself without any column", () => {
    expect(datasetDrift([drifted, stable, empty])).toMatchObject({ columns: 2, share: 0.5 });
    expect(datasetDrift([empty])).toEqual({ status: "no_data", columns: 0, driftShare: 0.5 });
    expect(datasetDrift([])).toMatchObject({ status: "no_data" });
  });
});

describe("column summaries", () => {
  it("missing-value share counts null, undefined and NaN", () => {
    expect(missingShare([1, null, Number.NaN, undefined, 2])).toEqual({
      total: 5,
      missing: 3,
      share: 0.6,
    });
  });

  it("quantiles as numpy (linear), over the finite values", () => {
    expect(quantiles([4, 1, null, 3, 2, Number.POSITIVE_INFINITY], [0, 0.25, 0.5, 1])).toEqual([
      1, 1.75, 2.5, 4,
    ]);
  });

  it("new-category share: current values never seen in the reference", () => {
    expect(newCategoryShare(["1_2", "3_4"], ["1_2", "9_9", "9_9", null, "5_6"])).toEqual({
      count: 4,
      newValues: 3,
      distinctNew: 2,
      share: 0.75,
    });
  });

  it("infers numerical for numbers only", () => {
    expect(inferKind([1, null, 2.5])).toBe("numerical");
    expect(inferKind([1, "a"])).toBe("categorical");
    expect(inferKind([true])).toBe("categorical");
  });

  it("infers the kind from a dtype as Evidently's infer_column_type (core/datasets.py)", () => {
    expect(inferKind([1, 2, 3], "float")).toBe("numerical");
    expect(inferKind(["1", "2"], "string")).toBe("categorical");
    expect(inferKind([true, false], "boolean")).toBe("categorical");
    // INTEGER_CARDINALITY_LIMIT = 10: ten distinct integers are categories, eleven are numbers.
    expect(inferKind([...range(10), null, 3], "integer")).toBe("categorical");
    expect(inferKind(range(11), "integer")).toBe("numerical");
  });
});
