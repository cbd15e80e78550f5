/**
 * Special functions behind the drift tests' p-values: the log-gamma function, the regularized
 * upper incomplete gamma function Q(a, x) (the chi-squared survival function) and the normal
 * survival function. Written for double precision to ~1e-13 relative, which the tests hold to
 * 1e-9 against scipy.
 */

const EPS = Number.EPSILON;

/** Stirling series coefficients B_2k / (2k (2k-1)), k = 1..8. */
const STIRLING = [
  1 / 12,
  -1 / 360,
  1 / 1260,
  -1 / 1680,
  1 / 1188,
  -691 / 360360,
  1 / 156,
  -3617 / 122400,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0: Stirling's series at x ≥ 15, shifted up by the recurrence below. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  let shift = 0;
  let z = x;
  // Γ(x) = Γ(x + k) / (x (x+1) … (x+k-1)); the product stays far from overflow for k < 15.
  let product = 1;
  while (z < 15) {
    product *= z;
    z += 1;
  }
  if (product !== 1) shift = Math.log(product);
  const inv = 1 / z;
  const inv2 = inv * inv;
  let series = 0;
  for (let k = STIRLING.length - 1; k >= 0; k--) series = series * inv2 + STIRLING[k];
  return (z - 0.5) * Math.log(z) - z + HALF_LOG_2PI + series * inv - shift;
}

/** x^a e^-x / Γ(a), computed in logs so large a and x neither overflow nor lose digits early. */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - logGamma(a));
}

/** Lower regularized P(a, x) by its power series; converges fast for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < 100_000; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPS) break;
  }
  return sum * gammaPrefactor(a, x);
}

/** Upper regularized Q(a, x) by its continued fraction (modified Lentz); for x ≥ a + 1. */
function upperContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return h * gammaPrefactor(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a) (scipy's gammaincc). */
export function gammaQ(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0 || x < 0) return Number.NaN;
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  if (x < a + 1) return 1 - lowerSeries(a, x);
  return upperContinuedFraction(a, x);
}

/** Chi-squared survival function with `df` degrees of freedom (scipy.stats.chi2.sf). */
export function chi2Sf(x: number, df: number): number {
  if (Number.isNaN(x) || !(df > 0)) return Number.NaN;
  if (x <= 0) return 1;
  return gammaQ(df / 2, x / 2);
}

/** Standard normal CDF, Φ(z); the tails come from erfc(t) = Q(1/2, t²). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const tail = 0.5 * gammaQ(0.5, (z * z) / 2);
  return z >= 0 ? 1 - tail : tail;
}
