/**
 * The statistics against Debian's python3-scipy on the same samples: every value must agree to
 * 1e-9 relative (or 1e-12 absolute, for p-values near 0). One Python process computes all the
 * expectations from a JSON batch, so the file stays fast.
 */
import { describe, expect, it } from "vitest";
import { kstwoSf, smirnov } from "../../src/monitor/kolmogorov.js";
import { chi2Sf, gammaQ, normalCdf } from "../../src/monitor/special.js";
import {
  chisquare,
  jensenShannon,
  ks2samp,
  quantilesSorted,
  wassersteinDistance,
} from "../../src/monitor/stats.js";
import { pythonHas, runPython } from "../helpers/python.js";
import { categorical, normal, rng } from "./random.js";

const haveScipy = pythonHas("scipy");

/** Relative 1e-9, or 1e-12 absolute where the value itself is near 0. */
function expectClose(actual: number, expected: number, label: string): void {
  if (Number.isNaN(expected)) {
    expect(actual, label).toBeNaN();
    return;
  }
  if (!Number.isFinite(expected)) {
    expect(actual, label).toBe(expected);
    return;
  }
  const err = Math.abs(actual - expected);
  const ok = err <= 1e-9 * Math.abs(expected) || err <= 1e-12;
  expect(ok, `${label}: got ${actual}, scipy ${expected} (|diff| ${err})`).toBe(true);
}

interface KsCase {
  label: string;
  a: number[];
  b: number[];
}

const ksCases: KsCase[] = [
  { label: "1 vs 1 equal", a: [0.5], b: [0.5] },
  { label: "1 vs 1", a: [0.5], b: [1.5] },
  { label: "1 vs 7", a: [0.2], b: normal(1, 7) },
  { label: "3 vs 4", a: normal(2, 3), b: normal(3, 4, 0.5) },
  { label: "7 vs 7 identical", a: normal(4, 7), b: normal(4, 7) },
  { label: "10 vs 12 ties", a: normal(5, 10, 0, 1, 0), b: normal(6, 12, 0.3, 1, 0) },
  { label: "25 vs 25 shifted", a: normal(7, 25), b: normal(8, 25, 1) },
  { label: "50 vs 80", a: normal(9, 50), b: normal(10, 80, 0.2) },
  { label: "200 vs 200 ties", a: normal(11, 200, 0, 1, 1), b: normal(12, 200, 0.1, 1, 1) },
  { label: "999 vs 1000 shifted", a: normal(13, 999), b: normal(14, 1000, 0.3, 1.2) },
  { label: "1000 vs 400 far apart", a: normal(15, 1000), b: normal(16, 400, 3) },
  { label: "5000 vs 8000 (exact, n ≤ 10,000)", a: normal(17, 5000), b: normal(18, 8000, 0.02) },
  { label: "10000 vs 10000", a: normal(19, 10000, 0, 1, 2), b: normal(20, 10000, 0.03, 1, 2) },
  { label: "12000 vs 15000 (asymptotic)", a: normal(21, 12000), b: normal(22, 15000, 0.01) },
  {
    label: "12000 vs 15000 shifted (asymptotic)",
    a: normal(23, 12000),
    b: normal(24, 15000, 0.05),
  },
  {
    label: "20000 vs 300 (asymptotic, Smirnov/Pelz–Good)",
    a: normal(25, 20000),
    b: normal(26, 300, 0.1),
  },
  { label: "20000 vs 60 (asymptotic, n ≤ 140)", a: normal(27, 20000), b: normal(28, 60, 0.2) },
  {
    label: "20000 vs 60 similar (asymptotic, Durbin matrix)",
    a: normal(29, 20000),
    b: normal(30, 60),
  },
  { label: "12000 vs 1 (asymptotic, n = 1)", a: normal(31, 12000), b: [0.1] },
  { label: "10001 vs 3 ties", a: normal(32, 10001, 0, 1, 0), b: [0, 1, 1] },
];

// A sweep of random size pairs: ties (rounded values), shifts and scales, both p-value paths.
const sweep = rng(99);
for (let k = 0; k < 150; k++) {
  const big = k % 15 === 14;
  const n1 = big ? 10001 + Math.floor(sweep() * 3000) : 1 + Math.floor(sweep() * 400);
  const n2 = 1 + Math.floor(sweep() * (big ? 2000 : 400));
  const decimals = k % 3 === 0 ? 0 : k % 3 === 1 ? 1 : undefined;
  const shift = sweep() < 0.5 ? 0 : sweep() * 0.6;
  ksCases.push({
    label: `sweep ${k}: ${n1} vs ${n2}`,
    a: normal(1000 + k, n1, 0, 1, decimals),
    b: normal(2000 + k, n2, shift, 1 + sweep() * 0.3, decimals),
  });
}

const chiCases: { label: string; obs: number[]; exp?: number[] }[] = [
  { label: "uniform expected", obs: [16, 18, 16, 14, 12, 12] },
  { label: "given expected", obs: [16, 18, 16, 14, 12, 12], exp: [16, 16, 16, 16, 16, 8] },
  { label: "2 categories", obs: [30, 70], exp: [50, 50] },
  { label: "tiny p", obs: [500, 10, 10, 480], exp: [250, 250, 250, 250] },
  { label: "p ≈ 1", obs: [100, 101, 99, 100], exp: [100, 100, 100, 100] },
  {
    label: "300 categories",
    obs: categorical(
      40,
      30000,
      [...Array(300).keys()],
      [...Array(300).keys()].map((k) => 1 + (k % 7)),
    ).reduce((acc, k) => ((acc[k] += 1), acc), new Array<number>(300).fill(0)),
  },
];

const wassersteinCases: {
  label: string;
  u: number[];
  v: number[];
  uw?: number[];
  vw?: number[];
}[] = [
  { label: "1 vs 1", u: [0], v: [3] },
  { label: "identical", u: normal(41, 100), v: normal(41, 100) },
  { label: "ties", u: normal(42, 300, 0, 1, 0), v: normal(43, 200, 0.5, 1, 0) },
  { label: "scipy doc", u: [0, 1, 3], v: [5, 6, 8] },
  { label: "weighted", u: [0, 1, 3], v: [5, 6, 8], uw: [0.4, 0.4, 0.2], vw: [2, 1, 0] },
  {
    label: "weighted ties",
    u: normal(44, 50, 0, 1, 0),
    v: normal(45, 70, 0, 2, 0),
    uw: normal(46, 50).map(Math.abs),
    vw: normal(47, 70).map(Math.abs),
  },
  { label: "8000 vs 5000", u: normal(48, 8000), v: normal(49, 5000, 0.3, 1.5) },
];

const jsCases: { label: string; p: number[]; q: number[]; base?: number }[] = [
  { label: "scipy doc", p: [1, 0, 0], q: [0, 1, 0] },
  { label: "scipy doc base 2", p: [1, 0, 0], q: [0, 1, 0], base: 2 },
  { label: "unnormalized", p: [1, 2, 3, 4], q: [13, 14, 15, 16] },
  { label: "zeros on one side", p: [0.5, 0.5, 0, 0], q: [0.1, 0.2, 0.3, 0.4] },
  { label: "equal", p: [0.2, 0.3, 0.5], q: [2, 3, 5] },
  {
    label: "base 2 random",
    p: normal(50, 40).map(Math.abs),
    q: normal(51, 40).map(Math.abs),
    base: 2,
  },
];

const quantileCases: number[][] = [[3], [1, 2], normal(52, 11), normal(53, 1000, 0, 1, 1)];
const quantileProbs = [0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

const gammaGrid: [number, number][] = [];
for (const a of [0.5, 1, 1.5, 2.5, 5, 10, 49.5, 150, 1000, 20000]) {
  for (const f of [0.01, 0.1, 0.5, 0.9, 1, 1.1, 1.5, 2, 5]) gammaGrid.push([a, a * f]);
}
const normalGrid = [-40, -8, -3, -1.5, -0.3, 0, 0.3, 1.5, 3, 8];
const kstwoGrid: [number, number][] = [];
for (const n of [
  1, 2, 3, 5, 10, 50, 100, 140, 141, 200, 500, 1000, 3077, 6667, 20000, 100001, 2000000,
]) {
  for (const x of [
    0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.45, 0.5, 0.6, 0.9, 0.99,
  ])
    kstwoGrid.push([n, x]);
}

const smirnovGrid: [number, number][] = [];
for (const n of [2, 3, 7, 20, 141, 1000, 5000]) {
  for (const x of [0.0001, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.95]) smirnovGrid.push([n, x]);
}

const SCRIPT = `
import json, sys
import numpy as np
from scipy import stats, special
from scipy.spatial import distance
req = json.load(sys.stdin)
out = {}
out["ks"] = [list(map(float, stats.ks_2samp(c["a"], c["b"])[:2])) for c in req["ks"]]
out["chi"] = [list(map(float, stats.chisquare(c["obs"], c.get("exp")))) for c in req["chi"]]
out["wd"] = [float(stats.wasserstein_distance(c["u"], c["v"], c.get("uw"), c.get("vw"))) for c in req["wd"]]
out["js"] = [float(distance.jensenshannon(c["p"], c["q"], c.get("base"))) for c in req["js"]]
out["quantiles"] = [list(map(float, np.quantile(np.array(v), req["probs"]))) for v in req["quantiles"]]
out["gammaincc"] = [float(special.gammaincc(a, x)) for a, x in req["gamma"]]
out["chi2sf"] = [float(stats.chi2.sf(2 * x, 2 * a)) for a, x in req["gamma"]]
out["ndtr"] = [float(special.ndtr(z)) for z in req["normal"]]
out["kstwo"] = [float(stats.kstwo.sf(x, n)) for n, x in req["kstwo"]]
out["smirnov"] = [float(special.smirnov(n, x)) for n, x in req["smirnov"]]
json.dump(out, sys.stdout)
`;

interface Expected {
  ks: [number, number][];
  chi: [number, number][];
  wd: number[];
  js: number[];
  quantiles: number[][];
  gammaincc: number[];
  chi2sf: number[];
  ndtr: number[];
  kstwo: number[];
  smirnov: number[];
}

function scipyExpectations(): Expected {
  const request = {
    ks: ksCases.map(({ a, b }) => ({ a, b })),
    chi: chiCases.map(({ obs, exp }) => (exp ? { obs, exp } : { obs })),
    wd: wassersteinCases.map(({ u, v, uw, vw }) => ({ u, v, uw, vw })),
    js: jsCases.map(({ p, q, base }) => ({ p, q, base })),
    quantiles: quantileCases,
    probs: quantileProbs,
    gamma: gammaGrid,
    normal: normalGrid,
    kstwo: kstwoGrid,
    smirnov: smirnovGrid,
  };
  return JSON.parse(runPython(SCRIPT, [], JSON.stringify(request))) as Expected;
}

describe.skipIf(!haveScipy)("statistics against scipy", () => {
  const expected = haveScipy ? scipyExpectations() : ({} as Expected);

  it("ks_2samp: statistic and p-value (exact and asymptotic paths)", () => {
    ksCases.forEach((c, i) => {
      const got = ks2samp(c.a, c.b);
      expectClose(got.statistic, expected.ks[i][0], `${c.label} statistic`);
      expectClose(got.pValue, expected.ks[i][1], `${c.label} p-value`);
    });
    expect(ks2samp(normal(17, 5000), normal(18, 8000)).method).toBe("exact");
    expect(ks2samp(normal(21, 12000), normal(22, 15000)).method).toBe("asymp");
  });

  it("ks_2samp does not depend on the order of the values", () => {
    const a = normal(60, 300);
    const b = normal(61, 200, 0.2);
    const shuffled = [...a].reverse();
    expect(ks2samp(shuffled, b)).toEqual(ks2samp(a, b));
    // Swapping the samples keeps the two-sided statistic and p-value.
    const swapped = ks2samp(b, a);
    expectClose(swapped.statistic, ks2samp(a, b).statistic, "swapped statistic");
    expectClose(swapped.pValue, ks2samp(a, b).pValue, "swapped p-value");
  });

  it("kstwo.sf across every method of scipy's _kolmogn", () => {
    kstwoGrid.forEach(([n, x], i) =>
      expectClose(kstwoSf(n, x), expected.kstwo[i], `kstwo.sf(${x}, ${n})`),
    );
  });

  it("smirnov (one-sided), small x included", () => {
    smirnovGrid.forEach(([n, x], i) =>
      expectClose(smirnov(n, x), expected.smirnov[i], `smirnov(${n}, ${x})`),
    );
  });

  it("chisquare: statistic and p-value", () => {
    chiCases.forEach((c, i) => {
      const got = chisquare(c.obs, c.exp);
      expectClose(got.statistic, expected.chi[i][0], `${c.label} statistic`);
      expectClose(got.pValue, expected.chi[i][1], `${c.label} p-value`);
    });
  });

  it("gammaincc, chi2.sf and ndtr", () => {
    gammaGrid.forEach(([a, x], i) => {
      expectClose(gammaQ(a, x), expected.gammaincc[i], `gammaincc(${a}, ${x})`);
      expectClose(chi2Sf(2 * x, 2 * a), expected.chi2sf[i], `chi2.sf(${2 * x}, ${2 * a})`);
    });
    normalGrid.forEach((z, i) => expectClose(normalCdf(z), expected.ndtr[i], `ndtr(${z})`));
  });

  it("wasserstein_distance, unweighted and weighted", () => {
    wassersteinCases.forEach((c, i) =>
      expectClose(wassersteinDistance(c.u, c.v, c.uw, c.vw), expected.wd[i], c.label),
    );
  });

  it("jensenshannon, base e and base 2", () => {
    jsCases.forEach((c, i) =>
      expectClose(jensenShannon(c.p, c.q, c.base), expected.js[i], c.label),
    );
  });

  it("quantiles as numpy's default (linear)", () => {
    quantileCases.forEach((values, i) => {
      const got = quantilesSorted(Float64Array.from(values).sort(), quantileProbs);
      got.forEach((q, k) =>
        expectClose(q, expected.quantiles[i][k], `case ${i} q=${quantileProbs[k]}`),
      );
    });
  });
});

describe("statistics: input checks", () => {
  it("names the bad input", () => {
    expect(() => ks2samp([], [1])).toThrow(/non-empty/);
    expect(() => ks2samp([1, Number.NaN], [1])).toThrow(/data1 contains NaN at index 1/);
    expect(() => chisquare([1, 2], [1])).toThrow(/fExp has 1 values, fObs 2/);
    expect(() => wassersteinDistance([1], [])).toThrow(/v is empty/);
    expect(() => wassersteinDistance([1, 2], [1], [1, -1])).toThrow(/u weight 1 is negative/);
    expect(() => jensenShannon([0, 0], [1, 1])).toThrow(/positive sum/);
    expect(() => quantilesSorted([1], [1.5])).toThrow(/1.5 is outside/);
  });

  it("handles a million values in one pass", () => {
    const big = normal(70, 1_000_000);
    const other = normal(71, 1_000_000, 0.001);
    const ks = ks2samp(big, other);
    expect(ks.method).toBe("asymp");
    expect(ks.pValue).toBeGreaterThan(0);
    expect(wassersteinDistance(big, other)).toBeGreaterThan(0);
  });
});
