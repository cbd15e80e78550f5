import { describe, expect, it } from "vitest";
import { lttb } from "../../src/registry/lttb.js";

type Point = [number, number];
const x = (p: Point) => p[0];
const y = (p: Point) => p[1];
const series = (n: number, f: (i: number) => number): Point[] =>
  Array.from({ length: n }, (_, i) => [i, f(i)]);

describe("lttb (Largest-Triangle-Three-Buckets)", () => {
  it("keeps the first and the last point and exactly `threshold` points, in order", () => {
    const points = series(10_000, (i) => Math.sin(i / 50));
    for (const threshold of [3, 10, 1000, 9_999]) {
      const kept = lttb(points, threshold, x, y);
      expect(kept).toHaveLength(threshold);
      expect(kept[0]).toBe(points[0]);
      expect(kept.at(-1)).toBe(points.at(-1));
      const xs = kept.map(x);
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
      expect(new Set(xs).size).toBe(threshold);
    }
  });

  it("keeps a single spike that averaging would flatten", () => {
    const points = series(100_000, (i) => (i === 54_321 ? 100 : Math.cos(i / 1000)));
    const kept = lttb(points, 500, x, y);
    expect(kept).toContain(points[54_321]);
    expect(Math.max(...kept.map(y))).toBe(100);
  });

  it("answers the input itself (a copy) when it has no more points than the threshold", () => {
    const points = series(5, (i) => i * i);
    for (const threshold of [5, 6, 1000]) {
      const kept = lttb(points, threshold, x, y);
      expect(kept).toEqual(points);
      expect(kept).not.toBe(points);
    }
    expect(lttb([], 3, x, y)).toEqual([]);
  });

  it("rejects a threshold under 3 or not an integer", () => {
    for (const threshold of [2, 0, -1, 3.5, Number.NaN]) {
      expect(() =>
        lttb(
          series(10, (i) => i),
          threshold,
          x,
          y,
        ),
      ).toThrow(/LTTB keeps at least 3 points/);
    }
  });
});
