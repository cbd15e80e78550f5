/**
 * The distributions behind the two-sample Kolmogorov–Smirnov p-value, ported from scipy 1.10
 * (Debian bookworm's python3-scipy) so the numbers agree with it:
 * - exact two-sample probabilities (scipy/stats/_stats_py.py `_compute_prob_outside_square`,
 *   scipy/stats/_stats_pythran.py `_compute_outer_prob_inside_method`);
 * - the one-sample two-sided distribution `kstwo.sf` used by the asymptotic path
 *   (scipy/stats/_ksstats.py `_kolmogn`, after Simard & L'Ecuyer 2011: Durbin's matrix
 *   algorithm, Pomeranz's recursion, the Pelz–Good expansion and the one-sided Smirnov sum).
 */

const E128 = 2 ** 128;
const EM128 = 2 ** -128;
const MIN_LOG = -708;
// cephes MINLOG for IEEE doubles: log(2^-1075).
const CEPHES_MINLOG = -745.1332191019412;
const PI_SQUARED = Math.PI ** 2;
const PI_FOUR = Math.PI ** 4;
const PI_SIX = Math.PI ** 6;
const SQRT2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const SQRT3 = Math.sqrt(3);

/** P(D_{n,n} ≥ h/n) for two samples of the same size n (0 < h ≤ n). */
export function probOutsideSquare(n: number, h: number): number {
  // scipy's Horner-like form: P = 2 A0 (1 - A1 (1 - A2 (1 - …))) avoids the cancellation of
  // the alternating binomial sum.
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    p = p1 * (1 - p);
  }
  return 2 * p;
}

/**
 * The share of lattice paths from (0,0) to (m,n) that leave the band |x/m - y/n| < h/lcm(m,n):
 * the exact two-sided p-value for m ≠ n (Hodges' inside method, Viehmann's 1 - p recursion).
 */
export function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = Math.floor(m / g);
  const ng = Math.floor(n / g);
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const a = new Float64Array(lenA).fill(1);
  for (let j = minj; j < maxj; j++) a[j] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (a[jj + minj - lastminj] * i + val * j) / (i + j);
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) a.fill(1, maxj - minj, Math.min(maxj - minj + (lastlen - curlen), lenA));
  }
  return a[maxj - minj - 1];
}

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** Exact floor(n·x) and n·x − floor(n·x), via an error-free product (Dekker/Veltkamp). */
function splitNx(n: number, x: number): { floor: number; alpha: number } {
  const hi = n * x;
  const split = (v: number): [number, number] => {
    const c = 134217729 * v; // 2^27 + 1
    const big = c - (c - v);
    return [big, v - big];
  };
  const [nh, nl] = split(n);
  const [xh, xl] = split(x);
  const lo = nh * xh - hi + nh * xl + nl * xh + nl * xl;
  let fl = Math.floor(hi);
  let alpha = hi - fl + lo;
  if (alpha < 0) {
    fl -= 1;
    alpha += 1;
  } else if (alpha >= 1) {
    fl += 1;
    alpha -= 1;
  }
  return { floor: fl, alpha };
}

/**
 * One-sided Smirnov survival function P(D_n^+ ≥ x) (scipy.special.smirnov), by the
 * Birnbaum–Tingey sum of positive terms, evaluated in logs (no cancellation, so one sum serves
 * every x; cephes switches to its alternating upper sum only for a few terms near x = 0, where
 * `_kolmogn` never calls it).
 */
export function smirnov(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const { floor: nxfl, alpha } = splitNx(n, x);
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  if (alpha === 0) n1mxfl -= 1;
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    const cdf = x * Math.exp((n - 1) * Math.log1p(x));
    return clip01(1 - cdf);
  }
  if (-2 * n * x * x < CEPHES_MINLOG) return 0;
  if (nxfl >= n - 1) return clip01(Math.exp(n * Math.log1p(-x)));
  if (n > 1_000_000) {
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    // scipy keeps the precision of small p-values: exp(logp) below 1/2, 1 - cdf above.
    return clip01(logp < -Math.LN2 ? Math.exp(logp) : 1 - -Math.expm1(logp));
  }
  // A_v = C(n,v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1); sf = x Σ_{v=0}^{n(1-x)} A_v.
  const nTerms = n1mxfl + 1;
  const logs = new Float64Array(nTerms);
  logs[0] = n * Math.log1p(-x) - Math.log(x);
  let logC = 0;
  let maxLog = logs[0];
  for (let v = 1; v < nTerms; v++) {
    logC += Math.log((n - v + 1) / v);
    const below = (n - nxfl - v - alpha) / n; // 1 - x - v/n, exact up to one rounding
    const above = (nxfl + v + alpha) / n; // x + v/n
    const lv = logC + (n - v) * Math.log(below) + (v - 1) * Math.log(above);
    logs[v] = lv;
    if (lv > maxLog) maxLog = lv;
  }
  let sum = 0;
  for (let v = 0; v < nTerms; v++) sum += Math.exp(logs[v] - maxLog);
  return clip01(x * sum * Math.exp(maxLog));
}

/** Durbin's matrix algorithm as Marsaglia–Tsang–Wang evaluate it: P(D_n ≤ d). */
function kolmognDMTW(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1 - h ** j;
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] *= fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  let hm: Float64Array<ArrayBuffer> = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) hm[r * m + i] = w[r - (i - 1)];
  for (let r = 0; r < m; r++) hm[r * m] = v[r];
  for (let c = 0; c < m; c++) hm[(m - 1) * m + c] = v[m - 1 - c];

  const matmul = (x: Float64Array, y: Float64Array): Float64Array<ArrayBuffer> => {
    const out = new Float64Array(m * m);
    for (let r = 0; r < m; r++) {
      for (let q = 0; q < m; q++) {
        const xv = x[r * m + q];
        if (xv === 0) continue;
        const row = q * m;
        const orow = r * m;
        for (let c = 0; c < m; c++) out[orow + c] += xv * y[row + c];
      }
    }
    return out;
  };
  let hpwr: Float64Array<ArrayBuffer> = new Float64Array(m * m);
  for (let i = 0; i < m; i++) hpwr[i * m + i] = 1;
  let nn = n;
  let expnt = 0;
  let hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      hpwr = matmul(hpwr, hm);
      expnt += hexpnt;
    }
    hm = matmul(hm, hm);
    hexpnt *= 2;
    if (Math.abs(hm[(k - 1) * m + (k - 1)]) > E128) {
      for (let i = 0; i < hm.length; i++) hm[i] /= E128;
      hexpnt += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = hpwr[(k - 1) * m + (k - 1)];
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      expnt -= 128;
    }
  }
  if (expnt !== 0) p *= 2 ** expnt;
  return clip01(p);
}

function pomeranzJ1J2(
  i: number,
  n: number,
  ll: number,
  ceilf: number,
  roundf: number,
): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pomeranz's recursion: P(D_n ≤ x). */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1] * gOverN) / m;
    twogpower[m] = (twogpower[m - 1] * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1] * oneMinusTwoGOverN) / m;
  }
  let v0 = new Float64Array(npwrs);
  let v1 = new Float64Array(npwrs);
  v1[0] = 1;
  let v0s = 0;
  let v1s = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [v0, v1] = [v1, v0];
    [v0s, v1s] = [v1s, v0s];
    v1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // np.convolve(V0[k1-V0s : k1-V0s+ln2], pwrs[:ln2]), entries conv_start … +conv_len.
      const start = k1 - v0s;
      const aLen = Math.max(0, Math.min(ln2, npwrs - start));
      const bLen = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let max = 0;
      for (let out = 0; out < convLen; out++) {
        const idx = convStart + out;
        let s = 0;
        const lo = Math.max(0, idx - bLen + 1);
        const hi = Math.min(idx, aLen - 1);
        for (let p = lo; p <= hi; p++) s += v0[start + p] * pwrs[idx - p];
        v1[out] = s;
        if (s > max) max = s;
      }
      if (max > 0 && max < EM128) {
        for (let q = 0; q < npwrs; q++) v1[q] *= E128;
        expnt -= 128;
      }
      v1s = v0s + j1 - k1;
    }
  }
  let ans = v1[n - v1s];
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > E128) {
      ans *= EM128;
      expnt += 128;
    }
    ans *= m;
  }
  if (expnt !== 0) ans *= 2 ** expnt;
  return clip01(ans);
}

/** The Pelz–Good expansion of P(D_n ≤ x), for large n and small x. */
function kolmognPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z ** 2;
  const z3 = z ** 3;
  const z4 = z ** 4;
  const z6 = z ** 6;
  const qlog = -PI_SQUARED / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * z2)) / 16;
  const k3d = (PI_SIX * (5 - 30 * z2)) / 64;
  const k3c = (PI_FOUR * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI_SQUARED * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const kk = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = q ** (8 * k);
    const coeffs = [
      1,
      k1a + k1b * m2,
      k2a + k2b * m2 + k2c * m4,
      k3a + k3b * m2 + k3c * m4 + k3d * m6,
    ];
    for (let i = 0; i < 4; i++) kk[i] = kk[i] * qpower + coeffs[i];
  }
  const denominators = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) kk[i] = (kk[i] * q * SQRT2PI) / denominators[i];
  q = Math.exp(-PI_SQUARED / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = SQRT3 * z;
  for (let k = maxk; k > 0; k--) {
    const k2 = k ** 2;
    const qp = q ** k2;
    k2extra += k2 * qp;
    const kspi = Math.PI * k;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * k2 * qp;
  }
  kk[2] += (k2extra * PI_SQUARED * SQRT2PI) / (-36 * z3);
  kk[3] += (k3extra * PI_SQUARED * SQRT2PI) / (216 * z6);
  for (let i = 0; i < 4; i++) kk[i] /= n ** (i / 2);
  return kk[0] + kk[1] + kk[2] + kk[3];
}

const STIRLING_COEFFS = [
  -0.029550653594771242, 0.00641025641025641, -0.0019175269175269176, 0.0008417508417508417,
  -0.0005952380952380953, 0.0007936507936507937, -0.002777777777777778, 0.08333333333333333,
];

function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  let poly = 0;
  for (const c of STIRLING_COEFFS) poly = poly * (rn / n) + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/**
 * Survival function of the two-sided one-sample Kolmogorov–Smirnov statistic D_n
 * (scipy.stats.kstwo.sf(x, n)), choosing the method as scipy's `_kolmogn` does.
 */
export function kstwoSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n);
  if (x >= 0.5) return clip01(2 * smirnov(n, x));
  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1 - kolmognDMTW(n, x));
    if (nxsquared <= 4) return clip01(1 - kolmognPomeranz(n, x));
    return clip01(2 * smirnov(n, x));
  }
  if (nxsquared >= 370) return 0;
  if (nxsquared >= 2.2) return clip01(2 * smirnov(n, x));
  let cdf: number;
  if (nxsquared >= 18) cdf = 1;
  else if (n <= 100000 && n * x ** 1.5 <= 1.4) cdf = kolmognDMTW(n, x);
  else cdf = kolmognPelzGood(n, x);
  return clip01(1 - cdf);
}
