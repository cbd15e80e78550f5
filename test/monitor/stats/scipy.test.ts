/**
 * computeVersionReport against Debian's python3-scipy and numpy directly, on the same rows:
 * ks_2samp, wasserstein_distance (normed by np.std of the reference), chisquare (expected =
 * reference counts scaled to the current size), jensenshannon, Evidently's two-proportion Z,
 * np.quantile and np.histogram on the union's range, each to 1e-9.
 */
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Cell } from "../../../src/monitor/drift.js";
import { computeVersionReport } from "../../../src/monitor/job/stats/index.js";
import type { ColumnReport } from "../../../src/monitor/job/types.js";
import { pythonHas, runPython } from "../../helpers/python.js";
import { categorical, normal, rng } from "../random.js";
import { loadWindow, type TestColumn, type TestWindow, valuesOf, withGaps } from "./windows.js";

const haveScipy = pythonHas("scipy");
const PROBABILITIES = [0.05, 0.25, 0.5, 0.75, 0.95];

const COLUMNS: TestColumn[] = [
  { name: "trip_distance", dtype: "float" },
  { name: "zone", dtype: "string" },
  { name: "flag", dtype: "boolean" },
  { name: "duration", dtype: "float", role: "prediction" },
];

function generate(
  table: string,
  seed: number,
  n: number,
  versions: (string | null)[],
  shift: number,
): TestWindow {
  const next = rng(seed);
  const zones = shift > 0 ? ["A", "B", "C", "D", "N"] : ["A", "B", "C", "D", "E"];
  return {
    table,
    columns: COLUMNS,
    versions: Array.from({ length: n }, () => versions[Math.floor(next() * versions.length)]),
    values: {
      trip_distance: withGaps(normal(seed, n, 3 + shift, 1.5, 2), 37, 5, [
        null,
        Number.NaN,
        Number.POSITIVE_INFINITY,
      ]),
      zone: withGaps(categorical(seed + 1, n, zones, [5, 4, 3, 2, 1 + shift]), 41, 3),
      flag: categorical(seed + 2, n, [true, false], [3, 2 + shift]),
      duration: normal(seed + 3, n, 12 + shift, 4),
    },
  };
}

/** Cells as JSON: NaN and ±inf have no JSON literal, so they travel as strings. */
function cells(values: Cell[]): (string | number | boolean | null)[] {
  return values.map((v) =>
    typeof v === "number" && !Number.isFinite(v) ? String(v) : (v ?? null),
  );
}

const SCRIPT = `
import json, sys
import numpy as np
from scipy import stats
from scipy.spatial import distance
req = json.load(sys.stdin)
def numbers(values):
    a = np.array([float(v) if v is not None else np.nan for v in values])
    return a[np.isfinite(a)]
def categories(values):
    return [v for v in values if v is not None]
out = []
for c in req["columns"]:
    if c["kind"] == "numerical":
        ref, cur = numbers(c["reference"]), numbers(c["current"])
        both = np.concatenate([ref, cur])
        r = {
            "quantiles": [list(map(float, np.quantile(ref, req["probs"]))), list(map(float, np.quantile(cur, req["probs"])))],
            "histogram": [np.histogram(x, bins=20, range=(both.min(), both.max()))[0].tolist() for x in (ref, cur)],
            "edges": np.histogram(ref, bins=20, range=(both.min(), both.max()))[1].tolist(),
        }
        if c["method"] == "ks":
            r["score"] = float(stats.ks_2samp(ref, cur).pvalue)
        else:
            r["score"] = float(stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001))
    else:
        ref, cur = categories(c["reference"]), categories(c["current"])
        keys = sorted(set(ref) | set(cur), key=str)
        rc = np.array([ref.count(k) for k in keys], dtype=float)
        cc = np.array([cur.count(k) for k in keys], dtype=float)
        if c["method"] == "chisquare":
            with np.errstate(divide="ignore", invalid="ignore"):
                score = stats.chisquare(cc, rc * len(cur) / len(ref)).pvalue
        elif c["method"] == "jensenshannon":
            score = distance.jensenshannon(rc / len(ref), cc / len(cur))
        else:
            # evidently z_stattest: proportions of the first value, pooled two-sided Z.
            n1, n2 = len(ref), len(cur)
            p1, p2 = rc[0] / n1, cc[0] / n2
            p = (p1 * n1 + p2 * n2) / (n1 + n2)
            z = (p1 - p2) / np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
            score = 2 * stats.norm.sf(abs(z))
        r = {"score": float(score)}
    out.append(r)
json.dump(out, sys.stdout)
`;

interface Expected {
  score: number;
  quantiles?: [number[], number[]];
  histogram?: [number[], number[]];
  edges?: number[];
}

function expectClose(actual: number, expected: number, label: string): void {
  if (!Number.isFinite(expected)) {
    expect(actual, label).toBe(expected);
    return;
  }
  const err = Math.abs(actual - expected);
  const ok = err <= 1e-9 * Math.abs(expected) || err <= 1e-12;
  expect(ok, `${label}: got ${actual}, scipy ${expected} (|diff| ${err})`).toBe(true);
}

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
});

afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

async function checkAgainstScipy(
  ref: TestWindow,
  cur: TestWindow,
  version: string,
): Promise<string[]> {
  const report = await computeVersionReport(connection, {
    reference: await loadWindow(connection, ref, "training"),
    current: await loadWindow(connection, cur),
    version,
    driftShare: 0.5,
    rmseFactor: 1.2,
    probabilities: PROBABILITIES,
  });
  const ok = (c: ColumnReport) => {
    if (c.drift.status !== "ok") throw new Error(`${c.name}: no data`);
    return c.drift;
  };
  const request = {
    probs: PROBABILITIES,
    columns: report.columns.map((c) => ({
      kind: c.kind,
      method: ok(c).method,
      reference: cells(valuesOf(ref, c.name, null)),
      current: cells(valuesOf(cur, c.name, version)),
    })),
  };
  const expected = JSON.parse(runPython(SCRIPT, [], JSON.stringify(request))) as Expected[];
  report.columns.forEach((c, i) => {
    const e = expected[i];
    expectClose(ok(c).score, e.score, `${c.name} ${ok(c).method}`);
    if (c.kind !== "numerical") return;
    c.quantiles!.reference!.forEach((q, k) =>
      expectClose(q, e.quantiles![0][k], `${c.name} reference quantile`),
    );
    c.quantiles!.current!.forEach((q, k) =>
      expectClose(q, e.quantiles![1][k], `${c.name} current quantile`),
    );
    if (c.histogram.kind !== "numerical") throw new Error("histogram kind");
    expect(c.histogram.edges, `${c.name} edges`).toEqual(e.edges);
    expect(c.histogram.reference, `${c.name} reference histogram`).toEqual(e.histogram![0]);
    expect(c.histogram.current, `${c.name} current histogram`).toEqual(e.histogram![1]);
  });
  return report.columns.map((c) => ok(c).method);
}

describe.skipIf(!haveScipy)("computeVersionReport against scipy and numpy", () => {
  it("small reference: ks_2samp, chisquare (a category only in the current), Z", async () => {
    const methods = await checkAgainstScipy(
      generate("ref_scipy_small", 91, 600, [null], 0),
      generate("cur_scipy_small", 92, 1500, ["1", "2"], 0.4),
      "2",
    );
    expect(methods).toEqual(["ks", "chisquare", "z", "ks"]);
  });

  it("large reference: wasserstein_distance (normed), jensenshannon", async () => {
    const methods = await checkAgainstScipy(
      generate("ref_scipy_large", 93, 4000, [null], 0),
      generate("cur_scipy_large", 94, 15000, ["1", "2"], 0.2),
      "1",
    );
    expect(methods).toEqual(["wasserstein", "jensenshannon", "jensenshannon", "wasserstein"]);
  });
});
