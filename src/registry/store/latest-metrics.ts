import type { MetricPoint } from "./types.js";

type Ordered = Pick<MetricPoint, "step" | "timestamp">;

/**
 * Whether a newly logged point replaces the current latest value of its metric (MLflow's
 * rule): the higher step wins, then the later timestamp; on a full tie the point logged last
 * wins, so re-logging a value at the same step and time corrects it.
 */
export function replacesLatest(candidate: Ordered, current: Ordered | undefined): boolean {
  if (current === undefined) return true;
  if (candidate.step !== current.step) return candidate.step > current.step;
  return candidate.timestamp >= current.timestamp;
}

/**
 * Folds points, in logging order, into the current latest values; returns only the keys
 * whose latest value changed.
 */
export function foldLatest(
  current: ReadonlyMap<string, MetricPoint>,
  points: readonly MetricPoint[],
): Map<string, MetricPoint> {
  const changed = new Map<string, MetricPoint>();
  for (const point of points) {
    if (replacesLatest(point, changed.get(point.key) ?? current.get(point.key))) {
      changed.set(point.key, point);
    }
  }
  return changed;
}
