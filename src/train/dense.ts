/**
 * Solves A x = b for a small dense square system (a few unknowns: the numeric weights and the
 * intercept) by Gaussian elimination with partial pivoting. `a` is row-major n×n; neither
 * input is modified. Throws when the system is singular to working precision.
 */
export function solveDense(a: Float64Array, b: Float64Array): Float64Array {
  const n = b.length;
  if (a.length !== n * n)
    throw new Error(`solveDense: matrix has ${a.length} entries, expected ${n * n}`);
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  let scale = 0;
  for (const value of m) scale = Math.max(scale, Math.abs(value));
  const tiny = scale * n * 1e-14;

  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) {
      if (Math.abs(m[row * n + col]) > Math.abs(m[pivot * n + col])) pivot = row;
    }
    if (!(Math.abs(m[pivot * n + col]) > tiny)) throw new SingularSystemError(col);
    if (pivot !== col) {
      for (let k = 0; k < n; k++) {
        const t = m[col * n + k];
        m[col * n + k] = m[pivot * n + k];
        m[pivot * n + k] = t;
      }
      const t = x[col];
      x[col] = x[pivot];
      x[pivot] = t;
    }
    for (let row = col + 1; row < n; row++) {
      const factor = m[row * n + col] / m[col * n + col];
      if (factor === 0) continue;
      for (let k = col; k < n; k++) m[row * n + k] -= factor * m[col * n + k];
      x[row] -= factor * x[col];
    }
  }
  for (let row = n - 1; row >= 0; row--) {
    let sum = x[row];
    for (let k = row + 1; k < n; k++) sum -= m[row * n + k] * x[k];
    x[row] = sum / m[row * n + row];
  }
  return x;
}

export class SingularSystemError extends Error {
  constructor(readonly column: number) {
    super(`singular system: unknown ${column} is not determined by the data`);
    this.name = "SingularSystemError";
  }
}
