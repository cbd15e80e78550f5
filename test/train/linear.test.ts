import { describe, expect, it } from "vitest";
import { SingularSystemError, solveDense } from "../../src/train/dense.js";
import { fitCategoricalLinear, predictLinear, rmse } from "../../src/train/linear.js";
import { Random } from "../../src/train/prng.js";

describe("solveDense", () => {
  it("solves a system that needs pivoting", () => {
    // The first pivot is 0: without row exchanges elimination would divide by zero.
    const a = Float64Array.of(0, 2, 1, 1, 1, 1, 2, 1, 0);
    const x = solveDense(a, Float64Array.of(5, 4, 4));
    expect(Array.from(x)).toEqual([
      expect.closeTo(1, 12),
      expect.closeTo(2, 12),
      expect.closeTo(1, 12),
    ]);
  });

  it("rejects a singular system", () => {
    expect(() => solveDense(Float64Array.of(1, 2, 2, 4), Float64Array.of(1, 2))).toThrow(
      SingularSystemError,
    );
  });
});

describe("fitCategoricalLinear, alpha = 0", () => {
  // y = w[g] + 2·x + 5 exactly; any exact solver must recover β = 2 and the fitted values.
  const categorical = ["a", "a", "b", "b", "c", "c", "c"];
  const x = Float64Array.of(1, 3, 0, 2, 5, 6, 10);
  const trueW: Record<string, number> = { a: 1, b: -4, c: 3 };
  const y = Float64Array.from(categorical, (g, i) => trueW[g] + 2 * x[i] + 5);
  const model = fitCategoricalLinear({
    categoricalFeature: "g",
    categorical,
    numericFeatures: ["x"],
    numeric: [x],
    target: y,
  });

  it("recovers the numeric weight and the fitted values", () => {
    expect(model.numericWeights[0]).toBeCloseTo(2, 12);
    const fitted = predictLinear(model, categorical, [x]);
    fitted.forEach((value, i) => expect(value).toBeCloseTo(y[i], 10));
  });

  it("splits category weights and intercept like minimum-norm lstsq (Σw = 0)", () => {
    // c_k = w_k + 5 = (6, 1, 8); b = mean(c) = 5; w = c − b.
    expect(model.categories).toEqual(["a", "b", "c"]);
    expect(model.intercept).toBeCloseTo(5, 12);
    expect(Array.from(model.categoryWeights)).toEqual([1, -4, 3].map((v) => expect.closeTo(v, 12)));
  });

  it("gives unseen categories weight 0", () => {
    const out = predictLinear(model, ["zzz"], [Float64Array.of(4)]);
    expect(out[0]).toBeCloseTo(5 + 2 * 4, 12);
  });

  it("handles a model without numeric features (group means)", () => {
    const m = fitCategoricalLinear({
      categoricalFeature: "g",
      categorical: ["p", "p", "q"],
      numericFeatures: [],
      numeric: [],
      target: Float64Array.of(1, 3, 10),
    });
    expect(m.intercept).toBeCloseTo(6, 12); // mean of group means 2 and 10
    expect(Array.from(predictLinear(m, ["p", "q"], []))).toEqual([
      expect.closeTo(2, 12),
      expect.closeTo(10, 12),
    ]);
  });

  it("explains a numeric feature that never varies within a category", () => {
    expect(() =>
      fitCategoricalLinear({
        categoricalFeature: "g",
        categorical: ["a", "a", "b"],
        numericFeatures: ["flat"],
        numeric: [Float64Array.of(1, 1, 2)],
        target: Float64Array.of(1, 2, 3),
      }),
    ).toThrow(/"flat" does not vary within categories/);
  });

  it("rejects missing values, naming the feature", () => {
    expect(() =>
      fitCategoricalLinear({
        categoricalFeature: "g",
        categorical: ["a", "b"],
        numericFeatures: ["x"],
        numeric: [Float64Array.of(1, Number.NaN)],
        target: Float64Array.of(1, 2),
      }),
    ).toThrow(/x has a missing or infinite value at row 1/);
  });
});

/**
 * Reference ridge: the full one-hot design matrix and its (K+m+1)² normal equations with the
 * intercept unpenalized, solved directly. Exactly what the fast solver avoids forming.
 */
function denseRidge(categorical: string[], x: Float64Array[], y: Float64Array, alpha: number) {
  const categories = [...new Set(categorical)].sort();
  const k = categories.length;
  const m = x.length;
  const p = k + m + 1;
  const row = (i: number): Float64Array => {
    const z = new Float64Array(p);
    z[categories.indexOf(categorical[i])] = 1;
    for (let j = 0; j < m; j++) z[k + j] = x[j][i];
    z[p - 1] = 1;
    return z;
  };
  const a = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < y.length; i++) {
    const z = row(i);
    for (let r = 0; r < p; r++) {
      b[r] += z[r] * y[i];
      for (let c = 0; c < p; c++) a[r * p + c] += z[r] * z[c];
    }
  }
  for (let r = 0; r < p - 1; r++) a[r * p + r] += alpha;
  const theta = solveDense(a, b);
  return {
    categories,
    weights: theta.subarray(0, k),
    beta: theta.subarray(k, k + m),
    intercept: theta[p - 1],
  };
}

describe("fitCategoricalLinear, alpha > 0", () => {
  const random = new Random(7);
  const n = 400;
  const categorical = Array.from({ length: n }, () => `z${random.int(25)}`);
  const x1 = Float64Array.from({ length: n }, () => random.uniform(0, 10));
  const x2 = Float64Array.from({ length: n }, () => random.normal());
  const y = Float64Array.from(
    { length: n },
    (_, i) => 3 + 1.5 * x1[i] - 2 * x2[i] + Number(categorical[i].slice(1)) / 5 + random.normal(),
  );

  for (const alpha of [0.5, 1, 50]) {
    it(`matches the dense normal equations (alpha = ${alpha})`, () => {
      const model = fitCategoricalLinear({
        categoricalFeature: "g",
        categorical,
        numericFeatures: ["x1", "x2"],
        numeric: [x1, x2],
        target: y,
        alpha,
      });
      const reference = denseRidge(categorical, [x1, x2], y, alpha);
      expect(model.categories).toEqual(reference.categories);
      expect(model.intercept).toBeCloseTo(reference.intercept, 9);
      model.numericWeights.forEach((w, j) => expect(w).toBeCloseTo(reference.beta[j], 9));
      model.categoryWeights.forEach((w, g) => expect(w).toBeCloseTo(reference.weights[g], 9));
    });
  }

  it("shrinks category weights as alpha grows", () => {
    const norm = (alpha: number): number => {
      const model = fitCategoricalLinear({
        categoricalFeature: "g",
        categorical,
        numericFeatures: ["x1", "x2"],
        numeric: [x1, x2],
        target: y,
        alpha,
      });
      return Math.hypot(...model.categoryWeights);
    };
    expect(norm(100)).toBeLessThan(norm(1));
  });
});

describe("rmse", () => {
  it("is the root mean squared difference", () => {
    expect(rmse(Float64Array.of(1, 2, 3), Float64Array.of(1, 2, 7))).toBeCloseTo(
      Math.sqrt(16 / 3),
      12,
    );
    expect(() => rmse([1], [1, 2])).toThrow(/1 vs 2/);
  });
});
