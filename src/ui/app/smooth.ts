/**
 * Exponential moving average as TensorBoard and MLflow smooth a metric: each point becomes
 * `weight` × the previous average + (1 − weight) × its value, debiased so that the first points
 * are not pulled towards 0 (the average starts at 0). `weight` 0 is the raw series, 0.99 very
 * smooth. Gaps (null) stay gaps and do not move the average.
 */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight > 0)) return [...values];
  let average = 0;
  let seen = 0;
  return values.map((value) => {
    if (value === null || !Number.isFinite(value)) return value;
    average = average * weight + (1 - weight) * value;
    seen++;
    return average / (1 - weight ** seen);
  });
}

/** The smoothing weight a URL gives (`smooth=0.6`): 0 when absent or not a number, at most 0.99. */
export function smoothingOf(text: string | null): number {
  const weight = Number(text ?? "0");
  if (!Number.isFinite(weight) || weight <= 0) return 0;
  return Math.min(weight, 0.99);
}
