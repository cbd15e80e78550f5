/**
 * Evidently's default data-drift rules (legacy `get_default_stattest`, evidently
 * src/evidently/legacy/calculations/stattests/registry.py, and the stattest modules beside it)
 * over plain arrays, plus the per-column summaries `mldeploy monitor` reports. No I/O: the
 * caller reads the windows and passes the column values.
 */
import {
  chisquare,
  jensenShannon,
  ks2samp,
  quantilesSorted,
  sortFinite,
  wassersteinDistance,
} from "./stats.js";
import { normalCdf } from "./special.js";

export type ColumnKind = "numerical" | "categorical";
export type Category = string | number | boolean;
/** One cell of a logged column; null, undefined and NaN are missing values. */
export type Cell = Category | null | undefined;

/** Evidently's stattest names: ks, wasserstein, chisquare, jensenshannon, z. */
export type DriftMethod = "ks" | "wasserstein" | "chisquare" | "jensenshannon" | "z";

export interface DriftTestResult {
  method: DriftMethod;
  /** A p-value (ks, chisquare, z) or a distance (wasserstein normed, jensenshannon). */
  score: number;
  scoreKind: "p_value" | "distance";
  threshold: number;
  drifted: boolean;
}

export type ColumnDrift =
  | ({
      status: "ok";
      kind: ColumnKind;
      referenceCount: number;
      currentCount: number;
    } & DriftTestResult)
  | {
      status: "no_data";
      kind: ColumnKind;
      /** Which side had no usable (non-missing, finite) value. */
      reason: "empty_reference" | "empty_current";
      referenceCount: number;
      currentCount: number;
    };

export interface ColumnDriftOptions {
  kind: ColumnKind;
}

/** Evidently's `ColumnDriftMetric` switches from tests to distances above this many reference rows. */
export const SMALL_REFERENCE_ROWS = 1000;
/** Numerical columns with at most this many distinct values (both windows) are tested as categories. */
export const FEW_NUMERICAL_VALUES = 5;
/** `DatasetDriftMetric` default: the dataset drifts when at least this share of columns does. */
export const DEFAULT_DRIFT_SHARE = 0.5;

const P_VALUE_THRESHOLD = 0.05;
const DISTANCE_THRESHOLD = 0.1;
/** wasserstein_distance_norm.py: `norm = max(float(np.std(reference_data)), 0.001)`. */
const MIN_WASSERSTEIN_NORM = 0.001;

function isMissing(value: Cell): value is null | undefined {
  return (
    value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))
  );
}

/** Evidently drops NaN and ±inf (data_drift.py `get_one_column_drift`) before any test. */
function usableNumbers(values: readonly Cell[], side: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isMissing(v)) continue;
    if (typeof v !== "number")
      throw new Error(`numerical column: ${side}[${i}] is ${typeof v}, not a number`);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

function usableCategories(values: readonly Cell[]): Category[] {
  const out: Category[] = [];
  for (const v of values) {
    if (isMissing(v)) continue;
    if (typeof v === "number" && !Number.isFinite(v)) continue;
    out.push(v);
  }
  return out;
}

function valueCounts(values: readonly Category[]): Map<Category, number> {
  const counts = new Map<Category, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** Whether both windows together hold at most `limit` distinct values; stops at the first extra. */
function hasFewDistinct(a: readonly number[], b: readonly number[], limit: number): boolean {
  const seen = new Set<number>();
  for (const values of [a, b]) {
    for (const v of values) {
      seen.add(v);
      if (seen.size > limit) return false;
    }
  }
  return true;
}

/** The counts of both windows on one list of categories: the reference's first, then the new ones. */
function alignedCounts(
  refCounts: Map<Category, number>,
  curCounts: Map<Category, number>,
): { reference: number[]; current: number[] } {
  const keys = [...refCounts.keys(), ...[...curCounts.keys()].filter((k) => !refCounts.has(k))];
  return {
    reference: keys.map((k) => refCounts.get(k) ?? 0),
    current: keys.map((k) => curCounts.get(k) ?? 0),
  };
}

/** Which of Evidently's tests a numerical column gets (registry.py `_get_default_stattest`). */
export function numericalTest(
  referenceCount: number,
  fewValues: boolean,
): "categorical" | "ks" | "wasserstein" {
  if (fewValues) return "categorical";
  return referenceCount <= SMALL_REFERENCE_ROWS ? "ks" : "wasserstein";
}

/**
 * Drift of one column between a reference and a current window, with the test Evidently picks
 * by default (registry.py `_get_default_stattest`, on the cleaned columns):
 * - reference ≤ 1,000 rows: numerical → KS p-value (≤ 0.05 drifts), categorical → chi-squared
 *   p-value (< 0.05), or the two-proportion Z-test (< 0.05) when both windows together hold
 *   at most 2 distinct values; a numerical column with ≤ 5 distinct values is treated as
 *   categorical.
 * - reference > 1,000 rows: numerical → Wasserstein distance normed by the reference's
 *   population std (≥ 0.1), categorical or numerical with ≤ 5 distinct values →
 *   Jensen–Shannon distance (natural log, ≥ 0.1).
 * An empty side gives `no_data` (Evidently raises there).
 */
export function columnDrift(
  reference: readonly Cell[],
  current: readonly Cell[],
  options: ColumnDriftOptions,
): ColumnDrift {
  const { kind } = options;
  if (kind === "numerical") {
    const ref = usableNumbers(reference, "reference");
    const cur = usableNumbers(current, "current");
    const empty = noDataDrift(kind, ref.length, cur.length);
    if (empty) return empty;
    const counts = { referenceCount: ref.length, currentCount: cur.length };
    // Counting a million distinct floats in a Map is wasteful: stop at the sixth value.
    const test = numericalTest(ref.length, hasFewDistinct(ref, cur, FEW_NUMERICAL_VALUES));
    if (test === "categorical") {
      const aligned = alignedCounts(valueCounts(ref), valueCounts(cur));
      return { status: "ok", kind, ...counts, ...countsTest(aligned.reference, aligned.current) };
    }
    if (test === "ks")
      return { status: "ok", kind, ...counts, ...ksDrift(ks2samp(ref, cur).pValue) };
    const score = wassersteinDistance(ref, cur);
    return { status: "ok", kind, ...counts, ...wassersteinDrift(score, populationStd(ref)) };
  }
  const ref = usableCategories(reference);
  const cur = usableCategories(current);
  const aligned = alignedCounts(valueCounts(ref), valueCounts(cur));
  return categoryCountsDrift(aligned.reference, aligned.current, kind);
}

/**
 * Drift of a column from its value counts, one entry per category (the same category at the
 * same index on both sides, 0 where a window lacks it): what `columnDrift` does for a
 * categorical column, or a numerical one with at most 5 distinct values, once it has counted
 * the values. For callers that count elsewhere (monitor's GROUP BY over window tables).
 */
export function categoryCountsDrift(
  referenceCounts: readonly number[],
  currentCounts: readonly number[],
  kind: ColumnKind,
): ColumnDrift {
  if (referenceCounts.length !== currentCounts.length)
    throw new Error(
      `categoryCountsDrift: ${referenceCounts.length} reference counts, ${currentCounts.length} current`,
    );
  const ref: number[] = [];
  const cur: number[] = [];
  for (let i = 0; i < referenceCounts.length; i++) {
    if (referenceCounts[i] === 0 && currentCounts[i] === 0) continue;
    ref.push(referenceCounts[i]);
    cur.push(currentCounts[i]);
  }
  const referenceCount = ref.reduce((s, n) => s + n, 0);
  const currentCount = cur.reduce((s, n) => s + n, 0);
  const empty = noDataDrift(kind, referenceCount, currentCount);
  if (empty) return empty;
  return { status: "ok", kind, referenceCount, currentCount, ...countsTest(ref, cur) };
}

/** `no_data` when a side has no usable value (Evidently raises there), else undefined. */
export function noDataDrift(
  kind: ColumnKind,
  referenceCount: number,
  currentCount: number,
): ColumnDrift | undefined {
  if (referenceCount === 0)
    return { status: "no_data", kind, reason: "empty_reference", referenceCount, currentCount };
  if (currentCount === 0)
    return { status: "no_data", kind, reason: "empty_current", referenceCount, currentCount };
  return undefined;
}

function result(
  method: DriftMethod,
  score: number,
  scoreKind: "p_value" | "distance",
  threshold: number,
  drifted: boolean,
): DriftTestResult {
  return { method, score, scoreKind, threshold, drifted };
}

/** ks_stattest.py: `return p_value, p_value <= threshold` (the other tests use <). */
export function ksDrift(pValue: number): DriftTestResult {
  return result("ks", pValue, "p_value", P_VALUE_THRESHOLD, pValue <= P_VALUE_THRESHOLD);
}

/**
 * wasserstein_distance_norm.py: the distance divided by the reference's population std
 * (at least 0.001); drifts at ≥ 0.1.
 */
export function wassersteinDrift(distance: number, referenceStd: number): DriftTestResult {
  const score = distance / Math.max(referenceStd, MIN_WASSERSTEIN_NORM);
  return result("wasserstein", score, "distance", DISTANCE_THRESHOLD, score >= DISTANCE_THRESHOLD);
}

/** The categorical tests on aligned, non-empty counts (no category empty on both sides). */
function countsTest(refCounts: readonly number[], curCounts: readonly number[]): DriftTestResult {
  let nRef = 0;
  let nCur = 0;
  for (const n of refCounts) nRef += n;
  for (const n of curCounts) nCur += n;
  if (nRef > SMALL_REFERENCE_ROWS) {
    // jensenshannon.py → utils.get_binned_data(…, feel_zeroes=False): shares per value, then
    // scipy's jensenshannon with base=None.
    const p = refCounts.map((n) => n / nRef);
    const q = curCounts.map((n) => n / nCur);
    const score = jensenShannon(p, q);
    return result(
      "jensenshannon",
      score,
      "distance",
      DISTANCE_THRESHOLD,
      score >= DISTANCE_THRESHOLD,
    );
  }
  if (refCounts.length <= 2) {
    const score = zTestPValue(refCounts, curCounts, nRef, nCur);
    return result("z", score, "p_value", P_VALUE_THRESHOLD, score < P_VALUE_THRESHOLD);
  }
  // chisquare_stattest.py: f_exp = reference counts scaled by len(current)/len(reference).
  const kNorm = nCur / nRef;
  const fExp = refCounts.map((n) => n * kNorm);
  const score = chisquare(curCounts, fExp).pValue;
  return result("chisquare", score, "p_value", P_VALUE_THRESHOLD, score < P_VALUE_THRESHOLD);
}

/** z_stattest.py: two-proportion Z-test on "is the first (sorted) value", two-sided p-value. */
function zTestPValue(
  refCounts: readonly number[],
  curCounts: readonly number[],
  n1: number,
  n2: number,
): number {
  // One value seen in both windows: nothing to compare.
  if (refCounts.length === 1) return 1;
  // |z| does not depend on which of the two values is counted, so the sort order is moot.
  const p1 = (n1 - refCounts[0]) / n1;
  const p2 = (n2 - curCounts[0]) / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const z = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return 2 * (1 - normalCdf(Math.abs(z)));
}

function populationStd(values: readonly number[]): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return Math.sqrt(ss / values.length);
}

export type DatasetDrift =
  | {
      status: "ok";
      /** Columns with data on both sides; `no_data` columns are left out of the share. */
      columns: number;
      driftedColumns: number;
      share: number;
      driftShare: number;
      datasetDrift: boolean;
    }
  | { status: "no_data"; columns: 0; driftShare: number };

/** data_drift.py `get_dataset_drift`: drifted share of columns, dataset drift when ≥ drift_share. */
export function datasetDrift(
  columns: readonly ColumnDrift[],
  driftShare = DEFAULT_DRIFT_SHARE,
): DatasetDrift {
  const withData = columns.filter((c) => c.status === "ok");
  if (withData.length === 0) return { status: "no_data", columns: 0, driftShare };
  const drifted = withData.filter((c) => c.status === "ok" && c.drifted).length;
  const share = drifted / withData.length;
  return {
    status: "ok",
    columns: withData.length,
    driftedColumns: drifted,
    share,
    driftShare,
    datasetDrift: share >= driftShare,
  };
}

/** Missing values (null, undefined, NaN) of a window; `share` is null for an empty window. */
export function missingShare(values: readonly Cell[]): {
  total: number;
  missing: number;
  share: number | null;
} {
  let missing = 0;
  for (const v of values) if (isMissing(v)) missing++;
  return {
    total: values.length,
    missing,
    share: values.length === 0 ? null : missing / values.length,
  };
}

/** numpy.quantile (linear) of the finite values; null when there is none. */
export function quantiles(
  values: readonly Cell[],
  probabilities: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95],
): number[] | null {
  const numbers: number[] = [];
  for (const v of values) if (typeof v === "number" && Number.isFinite(v)) numbers.push(v);
  if (numbers.length === 0) return null;
  return quantilesSorted(sortFinite(numbers), probabilities);
}

/**
 * Share of the current window's non-missing values whose category never occurs in the
 * reference (e.g. unseen pickup/dropoff zone pairs); null when the current window has none.
 */
export function newCategoryShare(
  reference: readonly Cell[],
  current: readonly Cell[],
): { count: number; newValues: number; distinctNew: number; share: number | null } {
  const known = new Set<Category>(usableCategories(reference));
  const cur = usableCategories(current);
  let newValues = 0;
  const distinct = new Set<Category>();
  for (const v of cur) {
    if (!known.has(v)) {
      newValues++;
      distinct.add(v);
    }
  }
  return {
    count: cur.length,
    newValues,
    distinctNew: distinct.size,
    share: cur.length === 0 ? null : newValues / cur.length,
  };
}

/** The storage type of a column, as a model signature or a Parquet schema states it. */
export type ColumnDtype = "float" | "integer" | "string" | "boolean";

/** evidently/core/datasets.py: an integer column with at most 10 distinct values is categorical. */
export const INTEGER_CARDINALITY_LIMIT = 10;

/**
 * Column kind by Evidently's `infer_column_type` (src/evidently/core/datasets.py): float →
 * numerical; integer → categorical with ≤ 10 distinct values, else numerical; string and
 * boolean → categorical (Evidently's "text" kind, a string column with more distinct values
 * than half its rows, is not a drift kind here and stays categorical). Without a dtype, the
 * values decide: numbers only → numerical, anything else categorical.
 */
export function inferKind(values: readonly Cell[], dtype?: ColumnDtype): ColumnKind {
  if (dtype === "float") return "numerical";
  if (dtype === "string" || dtype === "boolean") return "categorical";
  if (dtype === "integer") {
    const seen = new Set<Category>();
    for (const v of values) {
      if (isMissing(v)) continue;
      seen.add(v);
      if (seen.size > INTEGER_CARDINALITY_LIMIT) return "numerical";
    }
    return "categorical";
  }
  for (const v of values) if (!isMissing(v) && typeof v !== "number") return "categorical";
  return "numerical";
}
