import { SingularSystemError, solveDense } from "./dense.js";

/**
 * y ≈ w[category] + x·β + b: one-hot of a single categorical feature, numeric features, and an
 * unpenalized intercept. With alpha = 0 this is sklearn's DictVectorizer + LinearRegression,
 * with alpha > 0 DictVectorizer + Ridge(alpha).
 */
export interface CategoricalLinearModel {
  categoricalFeature: string;
  /** Sorted, as DictVectorizer orders its feature names. */
  categories: string[];
  categoryWeights: Float64Array;
  numericFeatures: string[];
  numericWeights: Float64Array;
  intercept: number;
}

export interface FitCategoricalLinearOptions {
  categoricalFeature: string;
  categorical: readonly string[];
  numericFeatures: readonly string[];
  /** One array per numeric feature, each as long as `target`. */
  numeric: readonly Float64Array[];
  target: Float64Array;
  /** L2 penalty on all weights but the intercept; 0 = ordinary least squares. */
  alpha?: number;
}

/**
 * Exact least squares in O(n·m² + K·m²) without forming the K×K normal equations: the
 * category weights form a diagonal block, so they are eliminated in closed form and only an
 * (m+1)×(m+1) system remains. Statistics are group-centered (two passes) so that large
 * means do not cancel away precision.
 */
export function fitCategoricalLinear(options: FitCategoricalLinearOptions): CategoricalLinearModel {
  const { categorical, numeric, target } = options;
  const alpha = options.alpha ?? 0;
  const n = target.length;
  const m = numeric.length;
  checkInputs(options, alpha);

  const groupOf = new Map<string, number>();
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let g = groupOf.get(categorical[i]);
    if (g === undefined) {
      g = groupOf.size;
      groupOf.set(categorical[i], g);
    }
    group[i] = g;
  }
  const k = groupOf.size;

  const count = new Float64Array(k);
  const meanY = new Float64Array(k);
  const meanX = new Float64Array(k * m);
  for (let i = 0; i < n; i++) {
    const g = group[i];
    count[g] += 1;
    meanY[g] += target[i];
    for (let j = 0; j < m; j++) meanX[g * m + j] += numeric[j][i];
  }
  for (let g = 0; g < k; g++) {
    meanY[g] /= count[g];
    for (let j = 0; j < m; j++) meanX[g * m + j] /= count[g];
  }

  // Within-group scatter Σ_k C_k and cross term Σ_k c_k, numeric block only: the intercept's
  // component of z is constant inside a group, so its centered row and column are zero.
  const scatter = new Float64Array(m * m);
  const cross = new Float64Array(m);
  const dx = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    const g = group[i];
    const dy = target[i] - meanY[g];
    for (let j = 0; j < m; j++) dx[j] = numeric[j][i] - meanX[g * m + j];
    for (let j = 0; j < m; j++) {
      cross[j] += dx[j] * dy;
      for (let l = 0; l <= j; l++) scatter[j * m + l] += dx[j] * dx[l];
    }
  }
  for (let j = 0; j < m; j++) for (let l = 0; l < j; l++) scatter[l * m + j] = scatter[j * m + l];

  const weights = new Float64Array(k);
  let beta: Float64Array;
  let intercept: number;
  if (alpha === 0) {
    // One-hot columns sum to the intercept column, so (w, b) is only determined up to a shift.
    // sklearn's lstsq returns the minimum-norm w on centered data, i.e. Σ w_k = 0; matching it
    // makes predictions for unseen categories (w = 0) agree too.
    beta = solveOrExplain(scatter, cross, options.numericFeatures);
    let sum = 0;
    for (let g = 0; g < k; g++) {
      weights[g] = meanY[g] - dotMean(meanX, g, m, beta);
      sum += weights[g];
    }
    intercept = sum / k;
    for (let g = 0; g < k; g++) weights[g] -= intercept;
  } else {
    const p = m + 1;
    const system = new Float64Array(p * p);
    const rhs = new Float64Array(p);
    for (let j = 0; j < m; j++) {
      for (let l = 0; l < m; l++) system[j * p + l] = scatter[j * m + l];
      system[j * p + j] += alpha;
      rhs[j] = cross[j];
    }
    // Eliminating w_k leaves Z_k Z_kᵀ·α/(n_k(n_k+α)) = z̄_k z̄_kᵀ·α·n_k/(n_k+α) per group.
    const zbar = new Float64Array(p);
    for (let g = 0; g < k; g++) {
      const a = (alpha * count[g]) / (count[g] + alpha);
      for (let j = 0; j < m; j++) zbar[j] = meanX[g * m + j];
      zbar[m] = 1;
      for (let j = 0; j < p; j++) {
        rhs[j] += a * zbar[j] * meanY[g];
        for (let l = 0; l < p; l++) system[j * p + l] += a * zbar[j] * zbar[l];
      }
    }
    const theta = solveOrExplain(system, rhs, [...options.numericFeatures, "(intercept)"]);
    beta = theta.subarray(0, m);
    intercept = theta[m];
    for (let g = 0; g < k; g++) {
      weights[g] =
        (count[g] * (meanY[g] - dotMean(meanX, g, m, beta) - intercept)) / (count[g] + alpha);
    }
  }

  const names = [...groupOf.keys()];
  const order = names
    .map((_, g) => g)
    .sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
  return {
    categoricalFeature: options.categoricalFeature,
    categories: order.map((g) => names[g]),
    categoryWeights: Float64Array.from(order, (g) => weights[g]),
    numericFeatures: [...options.numericFeatures],
    numericWeights: Float64Array.from(beta),
    intercept,
  };
}

function checkInputs(options: FitCategoricalLinearOptions, alpha: number): void {
  const n = options.target.length;
  if (!(alpha >= 0) || !Number.isFinite(alpha))
    throw new Error(`alpha must be a finite number >= 0, got ${alpha}`);
  if (n === 0) throw new Error("cannot fit a model on zero rows");
  if (options.categorical.length !== n) {
    throw new Error(
      `${options.categoricalFeature} has ${options.categorical.length} values, target has ${n}`,
    );
  }
  if (options.numericFeatures.length !== options.numeric.length) {
    throw new Error(
      `${options.numericFeatures.length} numeric feature names for ${options.numeric.length} columns`,
    );
  }
  options.numeric.forEach((column, j) => {
    const name = options.numericFeatures[j];
    if (column.length !== n)
      throw new Error(`${name} has ${column.length} values, target has ${n}`);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(column[i]))
        throw new Error(`${name} has a missing or infinite value at row ${i}`);
    }
  });
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(options.target[i]))
      throw new Error(`target has a missing or infinite value at row ${i}`);
  }
}

function solveOrExplain(
  matrix: Float64Array,
  rhs: Float64Array,
  names: readonly string[],
): Float64Array {
  if (rhs.length === 0) return new Float64Array(0);
  try {
    return solveDense(matrix, rhs);
  } catch (error) {
    if (!(error instanceof SingularSystemError)) throw error;
    throw new Error(
      `cannot fit: "${names[error.column]}" does not vary within categories (or duplicates another feature); ` +
        `use alpha > 0 or drop it`,
      { cause: error },
    );
  }
}

function dotMean(meanX: Float64Array, g: number, m: number, beta: Float64Array): number {
  let sum = 0;
  for (let j = 0; j < m; j++) sum += meanX[g * m + j] * beta[j];
  return sum;
}

const indexCache = new WeakMap<CategoricalLinearModel, Map<string, number>>();

/** Predictions; a category not seen in training contributes 0, as DictVectorizer drops it. */
export function predictLinear(
  model: CategoricalLinearModel,
  categorical: readonly string[],
  numeric: readonly Float64Array[],
): Float64Array {
  if (numeric.length !== model.numericFeatures.length) {
    throw new Error(
      `expected ${model.numericFeatures.length} numeric columns, got ${numeric.length}`,
    );
  }
  let index = indexCache.get(model);
  if (!index) {
    index = new Map(model.categories.map((category, g) => [category, g]));
    indexCache.set(model, index);
  }
  const out = new Float64Array(categorical.length);
  for (let i = 0; i < out.length; i++) {
    const g = index.get(categorical[i]);
    let value = model.intercept + (g === undefined ? 0 : model.categoryWeights[g]);
    for (let j = 0; j < numeric.length; j++) value += numeric[j][i] * model.numericWeights[j];
    out[i] = value;
  }
  return out;
}

/** Root mean squared error. */
export function rmse(actual: ArrayLike<number>, predicted: ArrayLike<number>): number {
  if (actual.length !== predicted.length)
    throw new Error(`rmse: ${actual.length} vs ${predicted.length} values`);
  if (actual.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) sum += (actual[i] - predicted[i]) ** 2;
  return Math.sqrt(sum / actual.length);
}
