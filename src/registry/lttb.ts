/**
 * Largest-Triangle-Three-Buckets (Steinarsson, "Downsampling Time Series for Visual
 * Representation", 2013): keeps the first and last points and, from each of `threshold - 2`
 * equal buckets between them, the point forming the largest triangle with the point kept
 * before it and the average of the next bucket. A chart of the result looks like the chart of
 * the whole series (peaks and dips survive), at a fraction of the points.
 */
export function lttb<T>(
  points: readonly T[],
  threshold: number,
  x: (p: T) => number,
  y: (p: T) => number,
): T[] {
  const n = points.length;
  if (!Number.isInteger(threshold) || threshold < 3) {
    throw new RangeError(`LTTB keeps at least 3 points, not ${threshold}`);
  }
  if (threshold >= n) return [...points];
  const kept: T[] = [points[0]];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let bucket = 0; bucket < threshold - 2; bucket++) {
    // Average of the next bucket (the last point for the final bucket).
    const nextStart = Math.floor((bucket + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((bucket + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    for (let i = nextStart; i < nextEnd; i++) {
      avgX += x(points[i]);
      avgY += y(points[i]);
    }
    const count = nextEnd - nextStart;
    avgX /= count;
    avgY /= count;

    const start = Math.floor(bucket * every) + 1;
    const end = Math.floor((bucket + 1) * every) + 1;
    const ax = x(points[a]);
    const ay = y(points[a]);
    let largest = -1;
    let chosen = start;
    for (let i = start; i < end; i++) {
      const area = Math.abs((ax - avgX) * (y(points[i]) - ay) - (ax - x(points[i])) * (avgY - ay));
      if (area > largest) {
        largest = area;
        chosen = i;
      }
    }
    kept.push(points[chosen]);
    a = chosen;
  }
  kept.push(points[n - 1]);
  return kept;
}
