/**
 * A numerical column's drift, quantiles and histogram, computed set-based in DuckDB so that
 * the current window's values never cross into JS: one GROUP BY over both windows' finite
 * values and one pass of window functions over the sorted distinct values give the two ECDFs,
 * from which follow the KS statistic's extremes, the Wasserstein integral, the order
 * statistics behind numpy's quantiles, and the range of the histogram. The decisions (which
 * test, thresholds, p-values) are drift.ts's and stats.ts's own code on those numbers.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../../../config/errors.js";
import {
  type ColumnDrift,
  categoryCountsDrift,
  FEW_NUMERICAL_VALUES,
  ksDrift,
  noDataDrift,
  numericalTest,
  wassersteinDrift,
} from "../../drift.js";
import { ks2sampFromEcdf, quantilesSorted } from "../../stats.js";
import type { Histogram } from "../types.js";
import { columnSql, doubleLiteral, readRows, type Side, toNumber, toNumberOrNull } from "./sql.js";

/** Bins of a numerical histogram (numpy.histogram's equal-width bins over the union's range). */
export const HISTOGRAM_BINS = 20;

export interface NumericalStats {
  drift: ColumnDrift;
  quantiles: { reference: number[] | null; current: number[] | null };
  histogram: Extract<Histogram, { kind: "numerical" }>;
}

interface Windows {
  reference: Side;
  current: Side;
  /** Finite values per window and their range (from the summary scan). */
  referenceCount: number;
  currentCount: number;
  min: number | null;
  max: number | null;
}

/** The finite values of both windows tagged s = 0 (reference) or 1 (current), as v. */
function unionSql(name: string, w: Windows): string {
  const ref = columnSql(w.reference, name);
  const cur = columnSql(w.current, name);
  return (
    `SELECT ${ref.number} AS v, 0 AS s FROM ${w.reference.table} WHERE ${w.reference.filter} AND ${ref.usableNumber} ` +
    `UNION ALL SELECT ${cur.number} AS v, 1 AS s FROM ${w.current.table} WHERE ${w.current.filter} AND ${cur.usableNumber}`
  );
}

/**
 * Above this share of distinct values in the reference, a column is continuous: its values
 * are sorted as they are instead of being grouped first (a hash table of ten million
 * distinct doubles costs more than the sort it would save).
 */
const CONTINUOUS_SHARE = 0.2;

export async function numericalStats(
  connection: DuckDBConnection,
  name: string,
  w: Windows,
  probabilities: readonly number[],
): Promise<NumericalStats> {
  for (const side of [w.reference, w.current]) {
    const sql = columnSql(side, name);
    if (!sql.numeric)
      throw new UserError(
        `column ${name}: monitored as numerical, but table ${side.table} stores it as ${sql.type}`,
      );
  }
  const edges = histogramEdges(w.min, w.max);
  const referenceDistinct = await distinctInReference(connection, name, w.reference);
  const ecdf = await ecdfAggregates(connection, name, w, probabilities, {
    grouped: w.referenceCount > 0 && referenceDistinct <= CONTINUOUS_SHARE * w.referenceCount,
  });
  return {
    drift: await drift(connection, name, w, ecdf, referenceDistinct),
    quantiles: { reference: ecdf.referenceQuantiles, current: ecdf.currentQuantiles },
    histogram: { kind: "numerical", edges, ...(await histogram(connection, name, w, edges)) },
  };
}

interface Ecdf {
  /** max and min over the union of F_ref(x) − F_cur(x) (null when a side is empty). */
  maxDiff: number | null;
  minDiff: number | null;
  /** ∫|F_ref − F_cur| dx (scipy.stats.wasserstein_distance). */
  wasserstein: number | null;
  referenceQuantiles: number[] | null;
  currentQuantiles: number[] | null;
}

/** The sorted positions numpy's linear quantile reads (stats.ts `quantilesSorted`). */
function orderIndices(n: number, probabilities: readonly number[]): number[] {
  const indices = new Set<number>();
  for (const q of probabilities) {
    const lo = Math.floor(q * (n - 1));
    indices.add(lo);
    indices.add(Math.min(lo + 1, n - 1));
  }
  return [...indices].sort((a, b) => a - b);
}

/**
 * One sort of both windows' finite values with each window's running count. Rows are either
 * the distinct values with their counts (grouped) or the values themselves; within a run of
 * ties only the last row holds the counts ≤ x that scipy's searchsorted(side='right') sees,
 * so the extremes skip the others (their dx is exactly 0, so the integral needs no care).
 */
async function ecdfAggregates(
  connection: DuckDBConnection,
  name: string,
  w: Windows,
  probabilities: readonly number[],
  o: { grouped: boolean },
): Promise<Ecdf> {
  const nRef = w.referenceCount;
  const nCur = w.currentCount;
  if (nRef + nCur === 0)
    return {
      maxDiff: null,
      minDiff: null,
      wasserstein: null,
      referenceQuantiles: null,
      currentQuantiles: null,
    };
  const aggregates = ["count(*) AS rows"];
  if (nRef > 0 && nCur > 0) {
    // The same double operations as ks2samp's and wassersteinDistance's loops: counts ≤ x
    // divided by the sample size, reference minus current; only the order of the final sum
    // differs.
    const diff = `(cr / ${doubleLiteral(nRef)} - cc / ${doubleLiteral(nCur)})`;
    aggregates.push(
      `max(${diff}) FILTER (WHERE dx IS DISTINCT FROM 0) AS max_diff`,
      `min(${diff}) FILTER (WHERE dx IS DISTINCT FROM 0) AS min_diff`,
      `sum(abs(${diff}) * dx) AS wasserstein`,
    );
  }
  // The value of sorted position k (0-based) sits on the row whose running count of its
  // window covers rank k + 1: a row of count n covers ranks (running − n, running].
  const refRanks = nRef > 0 ? orderIndices(nRef, probabilities).map((k) => k + 1) : [];
  const curRanks = nCur > 0 ? orderIndices(nCur, probabilities).map((k) => k + 1) : [];
  const covers = (running: string, count: string, ranks: number[]) =>
    o.grouped
      ? ranks.map((k) => `(${running} - ${count} < ${k} AND ${running} >= ${k})`).join(" OR ")
      : `${running} IN (${ranks.join(", ")})`;
  if (refRanks.length > 0)
    aggregates.push(
      `list({'lo': cr - r, 'hi': cr, 'v': v}) FILTER (WHERE r > 0 AND (${covers("cr", "r", refRanks)})) AS rq`,
    );
  if (curRanks.length > 0)
    aggregates.push(
      `list({'lo': cc - c, 'hi': cc, 'v': v}) FILTER (WHERE c > 0 AND (${covers("cc", "c", curRanks)})) AS cq`,
    );
  const rows = o.grouped
    ? `SELECT v, CAST(count(*) FILTER (WHERE s = 0) AS DOUBLE) AS r, CAST(count(*) FILTER (WHERE s = 1) AS DOUBLE) AS c
       FROM (${unionSql(name, w)}) GROUP BY v`
    : `SELECT v, CAST(1 - s AS DOUBLE) AS r, CAST(s AS DOUBLE) AS c FROM (${unionSql(name, w)})`;
  const [row] = await readRows(
    connection,
    `WITH e AS (
       SELECT v, r, c, sum(r) OVER w AS cr, sum(c) OVER w AS cc, lead(v) OVER w - v AS dx
       FROM (${rows}) WINDOW w AS (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     )
     SELECT ${aggregates.join(", ")} FROM e`,
  );
  const orderStatistics = (key: string, n: number): number[] | null => {
    if (n === 0) return null;
    const found = (row[key] ?? []) as { lo: number; hi: number; v: number }[];
    // quantilesSorted reads only these positions of the sorted sample: hand it just those.
    const sparse: { length: number; [index: number]: number } = { length: n };
    for (const k of orderIndices(n, probabilities)) {
      const hit = found.find((f) => f.lo < k + 1 && k + 1 <= f.hi);
      if (hit === undefined)
        throw new Error(`monitor statistics: no value at rank ${k + 1} of ${name}`);
      sparse[k] = hit.v;
    }
    return quantilesSorted(sparse, probabilities);
  };
  const both = nRef > 0 && nCur > 0;
  return {
    maxDiff: both ? toNumber(row.max_diff) : null,
    minDiff: both ? toNumber(row.min_diff) : null,
    // A single distinct value overall leaves no interval to integrate over.
    wasserstein: both ? (toNumberOrNull(row.wasserstein) ?? 0) : null,
    referenceQuantiles: orderStatistics("rq", nRef),
    currentQuantiles: orderStatistics("cq", nCur),
  };
}

/**
 * numpy.histogram(values, bins=20, range=(min, max)) of each window on the union's finite
 * range: the same edges (np.linspace) and the same bin of every value, including numpy's
 * correction of the computed index against the edges and the closed last bin. A scan of
 * its own: cheaper than 38 filtered sums over the sorted rows.
 */
async function histogram(
  connection: DuckDBConnection,
  name: string,
  w: Windows,
  edges: number[],
): Promise<{ reference: number[]; current: number[] }> {
  const reference = new Array<number>(HISTOGRAM_BINS).fill(0);
  const current = new Array<number>(HISTOGRAM_BINS).fill(0);
  if (w.referenceCount + w.currentCount === 0) return { reference, current };
  const first = edges[0];
  const norm = HISTOGRAM_BINS / (edges[HISTOGRAM_BINS] - first);
  const list = `[${edges.map(doubleLiteral).join(", ")}]`;
  const last = HISTOGRAM_BINS - 1;
  // DuckDB lists are 1-based: edge i is list[i + 1].
  const rows = await readRows(
    connection,
    `WITH b0 AS (
       SELECT s, v, least(CAST(trunc((v - ${doubleLiteral(first)}) * ${doubleLiteral(norm)}) AS BIGINT), ${last}) AS i
       FROM (${unionSql(name, w)})
     ), b1 AS (
       SELECT s, v, i - CASE WHEN v < ${list}[i + 1] THEN 1 ELSE 0 END AS i FROM b0
     ), b2 AS (
       SELECT s, i + CASE WHEN i <> ${last} AND v >= ${list}[i + 2] THEN 1 ELSE 0 END AS i FROM b1
     )
     SELECT s, i, count(*) AS n FROM b2 GROUP BY s, i`,
  );
  for (const row of rows) {
    const target = toNumber(row.s) === 0 ? reference : current;
    target[toNumber(row.i)] = toNumber(row.n);
  }
  return { reference, current };
}

async function distinctInReference(
  connection: DuckDBConnection,
  name: string,
  side: Side,
): Promise<number> {
  const sql = columnSql(side, name);
  const [row] = await readRows(
    connection,
    `SELECT count(DISTINCT ${sql.number}) AS n FROM ${side.table} WHERE ${side.filter} AND ${sql.usableNumber}`,
  );
  return toNumber(row.n);
}

async function drift(
  connection: DuckDBConnection,
  name: string,
  w: Windows,
  ecdf: Ecdf,
  referenceDistinct: number,
): Promise<ColumnDrift> {
  const counts = { referenceCount: w.referenceCount, currentCount: w.currentCount };
  const empty = noDataDrift("numerical", counts.referenceCount, counts.currentCount);
  if (empty) return empty;
  const few =
    referenceDistinct <= FEW_NUMERICAL_VALUES && (await hasFewValues(connection, name, w));
  const test = numericalTest(counts.referenceCount, few);
  if (test === "categorical") {
    const rows = await readRows(
      connection,
      `SELECT v, count(*) FILTER (WHERE s = 0) AS r, count(*) FILTER (WHERE s = 1) AS c
       FROM (${unionSql(name, w)}) GROUP BY v ORDER BY v`,
    );
    return categoryCountsDrift(
      rows.map((row) => toNumber(row.r)),
      rows.map((row) => toNumber(row.c)),
      "numerical",
    );
  }
  if (test === "ks") {
    const ks = ks2sampFromEcdf(
      ecdf.maxDiff!,
      ecdf.minDiff!,
      counts.referenceCount,
      counts.currentCount,
    );
    return { status: "ok", kind: "numerical", ...counts, ...ksDrift(ks.pValue) };
  }
  const std = await referenceStd(connection, name, w.reference);
  return {
    status: "ok",
    kind: "numerical",
    ...counts,
    ...wassersteinDrift(ecdf.wasserstein!, std),
  };
}

/** Whether both windows together hold at most 5 distinct finite values (the reference has). */
async function hasFewValues(
  connection: DuckDBConnection,
  name: string,
  w: Windows,
): Promise<boolean> {
  const inBoth = await readRows(
    connection,
    `SELECT DISTINCT v FROM (${unionSql(name, w)}) LIMIT ${FEW_NUMERICAL_VALUES + 1}`,
  );
  return inBoth.length <= FEW_NUMERICAL_VALUES;
}

/** The reference's population std, two-pass as drift.ts computes it. */
async function referenceStd(
  connection: DuckDBConnection,
  name: string,
  side: Side,
): Promise<number> {
  const sql = columnSql(side, name);
  const [row] = await readRows(
    connection,
    `WITH x AS (SELECT ${sql.number} AS v FROM ${side.table} WHERE ${side.filter} AND ${sql.usableNumber}),
          m AS (SELECT avg(v) AS mean FROM x)
     SELECT sqrt(avg((x.v - m.mean) * (x.v - m.mean))) AS std FROM x, m`,
  );
  return toNumber(row.std);
}

/**
 * The edges of numpy.histogram(values, bins=20, range=(min, max)) on the union's finite
 * range: np.linspace's values, a range of one value widened by ±0.5, (0, 1) without values.
 */
export function histogramEdges(min: number | null, max: number | null): number[] {
  let first = min ?? 0;
  let last = max ?? 1;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const step = (last - first) / HISTOGRAM_BINS;
  const edges: number[] = [];
  for (let i = 0; i < HISTOGRAM_BINS; i++) edges.push(i * step + first);
  edges.push(last);
  return edges;
}
