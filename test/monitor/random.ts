/** Seeded samples for the statistics tests: the same numbers go to TypeScript and to scipy. */

/** mulberry32: a small, fast 32-bit PRNG; enough for test samples. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n normal values (Box–Muller) with the given mean and std, optionally rounded to `decimals` (ties). */
export function normal(seed: number, n: number, mean = 0, std = 1, decimals?: number): number[] {
  const next = rng(seed);
  const out: number[] = [];
  while (out.length < n) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out.push(mean + std * r * Math.cos(2 * Math.PI * v));
    if (out.length < n) out.push(mean + std * r * Math.sin(2 * Math.PI * v));
  }
  if (decimals === undefined) return out;
  const f = 10 ** decimals;
  return out.map((x) => Math.round(x * f) / f);
}

/** n draws from `categories` with the given relative weights. */
export function categorical<T>(
  seed: number,
  n: number,
  categories: readonly T[],
  weights: readonly number[],
): T[] {
  const next = rng(seed);
  const total = weights.reduce((s, w) => s + w, 0);
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    let u = next() * total;
    let k = 0;
    while (k < categories.length - 1 && u >= weights[k]) u -= weights[k++];
    out.push(categories[k]);
  }
  return out;
}
