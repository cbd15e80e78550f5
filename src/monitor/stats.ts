/**
 * Two-sample statistics as scipy 1.10 computes them (the numbers Evidently reports): the
 * Kolmogorov–Smirnov test, Pearson's chi-squared test, the 1-D Wasserstein distance, the
 * Jensen–Shannon distance, and numpy's default (linear) quantiles. Pure functions over arrays;
 * every sort is O(n log n) on a Float64Array, the rest linear.
 */
import { kstwoSf, outerProbInside, probOutsideSquare } from "./kolmogorov.js";
import { chi2Sf } from "./special.js";

export interface TestResult {
  statistic: number;
  pValue: number;
}

export interface KsResult extends TestResult {
  /** Which p-value scipy's method='auto' ended up with. */
  method: "exact" | "asymp";
}

/** scipy's ks_2samp switches from the exact to the asymptotic p-value above this size. */
const MAX_AUTO_N = 10000;

function sorted(values: ArrayLike<number>, field: string): Float64Array {
  const out = Float64Array.from(values);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i])) throw new Error(`${field} contains NaN at index ${i}`);
  }
  return out.sort();
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Two-sided two-sample Kolmogorov–Smirnov test (scipy.stats.ks_2samp, method='auto'): the
 * exact p-value when both samples have at most 10,000 values (ties or not), else the
 * asymptotic one from the Kolmogorov distribution with n = round(n1·n2 / (n1 + n2)).
 */
export function ks2samp(data1: ArrayLike<number>, data2: ArrayLike<number>): KsResult {
  const a = sorted(data1, "data1");
  const b = sorted(data2, "data2");
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error("ks2samp: both samples must be non-empty");
  // The ECDF difference at every value of the union, as scipy's searchsorted(side='right').
  let maxS = Number.NEGATIVE_INFINITY;
  let minDiff = Number.POSITIVE_INFINITY;
  let i = 0;
  let j = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j];
    while (i < n1 && a[i] <= v) i++;
    while (j < n2 && b[j] <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxS) maxS = diff;
    if (diff < minDiff) minDiff = diff;
  }
  return ks2sampFromEcdf(maxS, minDiff, n1, n2);
}

/**
 * ks2samp's statistic and p-value from the extremes of the ECDF difference F1(x) − F2(x) over
 * the union of both samples (each ECDF counted with `<=`, as scipy's searchsorted(side='right')),
 * for callers that compute those extremes elsewhere (monitor's SQL over window tables).
 */
export function ks2sampFromEcdf(
  maxDiff: number,
  minDiff: number,
  n1: number,
  n2: number,
): KsResult {
  if (n1 === 0 || n2 === 0) throw new Error("ks2samp: both samples must be non-empty");
  const minS = Math.min(Math.max(-minDiff, 0), 1);
  let d = minS > maxDiff ? minS : maxDiff;
  const g = gcd(n1, n2);
  let method: "exact" | "asymp" = Math.max(n1, n2) <= MAX_AUTO_N ? "exact" : "asymp";
  let prob = Number.NaN;
  if (method === "exact") {
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) prob = 1;
    else prob = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
    // scipy falls back to the asymptotic value when the exact one is not a probability.
    if (!(prob >= 0 && prob <= 1)) method = "asymp";
  }
  if (method === "asymp") {
    const m = Math.max(n1, n2);
    const n = Math.min(n1, n2);
    const en = (m * n) / (m + n);
    prob = kstwoSf(roundHalfEven(en), d);
  }
  return { statistic: d, pValue: Math.min(Math.max(prob, 0), 1), method };
}

/**
 * Pearson's chi-squared goodness-of-fit test (scipy.stats.chisquare): expected frequencies
 * default to the mean of the observed ones; df = k - 1 - ddof. Unlike scipy it does not
 * reject observed and expected totals that differ; an expected 0 against an observed count
 * gives an infinite statistic and a p-value of 0.
 */
export function chisquare(fObs: ArrayLike<number>, fExp?: ArrayLike<number>, ddof = 0): TestResult {
  const k = fObs.length;
  if (k === 0) throw new Error("chisquare: fObs is empty");
  if (fExp && fExp.length !== k)
    throw new Error(`chisquare: fExp has ${fExp.length} values, fObs ${k}`);
  let mean = 0;
  if (!fExp) {
    for (let i = 0; i < k; i++) mean += fObs[i];
    mean /= k;
  }
  let stat = 0;
  for (let i = 0; i < k; i++) {
    const e = fExp ? fExp[i] : mean;
    const diff = fObs[i] - e;
    stat += diff === 0 ? 0 : (diff * diff) / e;
  }
  return { statistic: stat, pValue: chi2Sf(stat, k - 1 - ddof) };
}

/**
 * First Wasserstein distance between two 1-D empirical distributions, optionally weighted
 * (scipy.stats.wasserstein_distance): the integral of |U(x) - V(x)| over the merged support.
 */
export function wassersteinDistance(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  uWeights?: ArrayLike<number>,
  vWeights?: ArrayLike<number>,
): number {
  const us = weightedSorted(u, uWeights, "u");
  const vs = weightedSorted(v, vWeights, "v");
  const nu = us.values.length;
  const nv = vs.values.length;
  let i = 0;
  let j = 0;
  let total = 0;
  let prev = Math.min(us.values[0], vs.values[0]);
  // Walk the merged values; between two consecutive ones both CDFs are constant.
  while (i < nu || j < nv) {
    const x = j >= nv || (i < nu && us.values[i] <= vs.values[j]) ? us.values[i] : vs.values[j];
    const uCdf = us.cum[i] / us.cum[nu];
    const vCdf = vs.cum[j] / vs.cum[nv];
    total += Math.abs(uCdf - vCdf) * (x - prev);
    prev = x;
    while (i < nu && us.values[i] <= x) i++;
    while (j < nv && vs.values[j] <= x) j++;
  }
  return total;
}

function weightedSorted(
  values: ArrayLike<number>,
  weights: ArrayLike<number> | undefined,
  field: string,
): { values: Float64Array; cum: Float64Array } {
  const n = values.length;
  if (n === 0) throw new Error(`wassersteinDistance: ${field} is empty`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i]))
      throw new Error(`wassersteinDistance: ${field}[${i}] is not finite`);
  }
  const cum = new Float64Array(n + 1);
  if (!weights) {
    for (let i = 1; i <= n; i++) cum[i] = i;
    return { values: Float64Array.from(values).sort(), cum };
  }
  if (weights.length !== n)
    throw new Error(`wassersteinDistance: ${field} has ${n} values, ${weights.length} weights`);
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((x, y) => values[x] - values[y]);
  const sortedValues = new Float64Array(n);
  let positive = false;
  for (let k = 0; k < n; k++) {
    const w = weights[order[k]];
    if (!(w >= 0) || !Number.isFinite(w))
      throw new Error(`wassersteinDistance: ${field} weight ${order[k]} is negative or not finite`);
    if (w > 0) positive = true;
    sortedValues[k] = values[order[k]];
    cum[k + 1] = cum[k] + w;
  }
  if (!positive) throw new Error(`wassersteinDistance: ${field} weights sum to 0`);
  return { values: sortedValues, cum };
}

/**
 * Jensen–Shannon distance (scipy.spatial.distance.jensenshannon): the square root of the
 * divergence between p and q, each normalized to sum to 1; natural log unless `base` is given.
 */
export function jensenShannon(p: ArrayLike<number>, q: ArrayLike<number>, base?: number): number {
  if (p.length !== q.length)
    throw new Error(`jensenShannon: p has ${p.length} values, q ${q.length}`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    if (!(p[i] >= 0) || !(q[i] >= 0))
      throw new Error(`jensenShannon: negative or NaN value at index ${i}`);
    sp += p[i];
    sq += q[i];
  }
  if (!(sp > 0) || !(sq > 0))
    throw new Error("jensenShannon: p and q must each have a positive sum");
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    const m = (pi + qi) / 2;
    if (pi > 0) left += pi * Math.log(pi / m);
    if (qi > 0) right += qi * Math.log(qi / m);
  }
  let js = left + right;
  if (base !== undefined) js /= Math.log(base);
  // Rounding can leave -1e-17 where the distributions are equal; the distance is then 0.
  return Math.sqrt(Math.max(js / 2, 0));
}

/** Sorts finite values ascending (a helper for `quantilesSorted`). */
export function sortFinite(values: ArrayLike<number>): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) out.push(values[i]);
  return Float64Array.from(out).sort();
}

/** numpy.quantile(…, method='linear') over values already sorted ascending; [] → NaNs. */
export function quantilesSorted(
  sortedValues: ArrayLike<number>,
  probabilities: readonly number[],
): number[] {
  const n = sortedValues.length;
  return probabilities.map((q) => {
    if (!(q >= 0 && q <= 1)) throw new Error(`quantile probability ${q} is outside [0, 1]`);
    if (n === 0) return Number.NaN;
    const index = q * (n - 1);
    const lo = Math.floor(index);
    const hi = Math.min(lo + 1, n - 1);
    const t = index - lo;
    const a = sortedValues[lo];
    const b = sortedValues[hi];
    const diff = b - a;
    // numpy's _lerp: from the nearer end, so t = 1 returns b exactly.
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
  });
}
