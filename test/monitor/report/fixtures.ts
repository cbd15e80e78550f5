/**
 * MonitorResult fixtures for the report tests, built by hand from seeded samples: the drift
 * verdicts, missing shares, quantiles and new categories come from monitor/drift.ts on the
 * same values the histograms count, so the numbers in the report are the real ones.
 */
import {
  columnDrift,
  datasetDrift,
  missingShare,
  newCategoryShare,
  quantiles,
  type Cell,
} from "../../../src/monitor/drift.js";
import {
  MONITOR_RESULT_FORMAT,
  type ColumnReport,
  type ErrorReport,
  type FrameColumn,
  type MonitorResult,
  type VersionReport,
} from "../../../src/monitor/job/types.js";
import { categorical, normal, rng } from "../random.js";

export const PROBABILITIES = [0.05, 0.25, 0.5, 0.75, 0.95];

/** Counts on `bins` equal bins over the range of both windows (as the stats area does). */
export function sharedHistogram(
  reference: readonly Cell[],
  current: readonly Cell[],
  bins: number,
) {
  const finite = (values: readonly Cell[]) =>
    values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const ref = finite(reference);
  const cur = finite(current);
  const all = [...ref, ...cur];
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const count = (values: number[]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
    return counts;
  };
  return { kind: "numerical" as const, edges, reference: count(ref), current: count(cur) };
}

export function numericalColumn(
  name: string,
  role: FrameColumn["role"],
  reference: Cell[],
  current: Cell[],
  bins = 30,
): ColumnReport {
  return {
    name,
    role,
    kind: "numerical",
    drift: columnDrift(reference, current, { kind: "numerical" }),
    missing: { reference: missingShare(reference), current: missingShare(current) },
    quantiles: {
      probabilities: PROBABILITIES,
      reference: quantiles(reference, PROBABILITIES),
      current: quantiles(current, PROBABILITIES),
    },
    histogram: sharedHistogram(reference, current, bins),
  };
}

/** The `limit` most frequent categories of both windows together, the rest as "other". */
export function categoricalColumn(
  name: string,
  role: FrameColumn["role"],
  reference: Cell[],
  current: Cell[],
  limit = 20,
): ColumnReport {
  const counts = (values: Cell[]) => {
    const map = new Map<string, number>();
    for (const v of values)
      if (v !== null && v !== undefined) map.set(String(v), (map.get(String(v)) ?? 0) + 1);
    return map;
  };
  const ref = counts(reference);
  const cur = counts(current);
  const all = [...new Set([...ref.keys(), ...cur.keys()])].sort(
    (a, b) => (ref.get(b) ?? 0) + (cur.get(b) ?? 0) - (ref.get(a) ?? 0) - (cur.get(a) ?? 0),
  );
  const top = all.slice(0, limit);
  const total = (map: Map<string, number>) => [...map.values()].reduce((s, v) => s + v, 0);
  const refListed = top.map((c) => ref.get(c) ?? 0);
  const curListed = top.map((c) => cur.get(c) ?? 0);
  return {
    name,
    role,
    kind: "categorical",
    drift: columnDrift(reference, current, { kind: "categorical" }),
    missing: { reference: missingShare(reference), current: missingShare(current) },
    newCategories: newCategoryShare(reference, current),
    histogram: {
      kind: "categorical",
      categories: top,
      reference: refListed,
      current: curListed,
      otherReference: total(ref) - refListed.reduce((s, v) => s + v, 0),
      otherCurrent: total(cur) - curListed.reduce((s, v) => s + v, 0),
    },
  };
}

function version(
  name: string,
  rows: number,
  columns: ColumnReport[],
  error?: ErrorReport,
): VersionReport {
  return {
    version: name,
    rows,
    status: "ok",
    columns,
    dataset: datasetDrift(
      columns.map((c) => c.drift),
      0.5,
    ),
    ...(error ? { error } : {}),
  };
}

/** Some values replaced by null, every `every`-th. */
function withMissing(values: Cell[], every: number): Cell[] {
  return values.map((v, i) => (i % every === 0 ? null : v));
}

const ZONES = Array.from({ length: 30 }, (_, i) => `${100 + i * 7}_${230 - i * 3}`);

function zoneWeights(shift: number): number[] {
  return ZONES.map((_, i) => Math.exp(-Math.abs(i - shift) / 4));
}

/** Trip distances: log-normal-ish, shifted up by `shift` miles. */
function distances(seed: number, n: number, shift: number): number[] {
  return normal(seed, n, 0.9, 0.6).map((x) => Math.round((Math.exp(x) + shift) * 100) / 100);
}

/** 2 versions with data (3 drifted and regressed, 2 stable) and one without data (4). */
export function sampleResult(): MonitorResult {
  const referenceRows = 5000;
  const refDistance = distances(1, referenceRows, 0);
  const refZones = categorical(2, referenceRows, ZONES, zoneWeights(5));
  const refDuration = refDistance.map(
    (d, i) => Math.round((4 + 3.1 * d + ((i * 7919) % 13) - 6) * 10) / 10,
  );

  const shifted = distances(3, 1240, 1.6);
  const shiftedZones = categorical(4, 1240, [...ZONES, "264_264"], [...zoneWeights(12), 0.6]);
  const shiftedDuration = shifted.map(
    (d, i) => Math.round((4 + 3.4 * d + ((i * 104729) % 11) - 5) * 10) / 10,
  );

  const stable = distances(5, 980, 0);
  const stableZones = categorical(6, 980, ZONES, zoneWeights(5));
  const stableDuration = stable.map(
    (d, i) => Math.round((4 + 3.1 * d + ((i * 31) % 13) - 6) * 10) / 10,
  );

  const v3 = version(
    "3",
    1240,
    [
      categoricalColumn("PU_DO", "input", refZones, shiftedZones),
      numericalColumn("trip_distance", "input", refDistance, withMissing(shifted, 37)),
      categoricalColumn(
        "payment_type",
        "input",
        categorical(7, referenceRows, ["card", "cash", "no charge"], [7, 3, 0.2]),
        categorical(8, 1240, ["card", "cash", "no charge"], [7, 3, 0.2]),
      ),
      numericalColumn("duration", "prediction", refDuration, shiftedDuration),
      // A column the current window never filled in: no data, left out of the drift share.
      numericalColumn(
        "tip_amount",
        "input",
        normal(10, referenceRows, 3, 1, 2),
        new Array<Cell>(1240).fill(null),
      ),
    ],
    {
      predictions: 1240,
      matched: 1187,
      rmse: 7.91234,
      mae: 5.80412,
      bias: 1.3456,
      training: { metric: "valid_rmse", rmse: 5.5123 },
      factor: 1.2,
      regressed: true,
    },
  );
  const v2 = version(
    "2",
    980,
    [
      categoricalColumn("PU_DO", "input", refZones, stableZones),
      numericalColumn("trip_distance", "input", refDistance, stable),
      categoricalColumn(
        "payment_type",
        "input",
        categorical(7, referenceRows, ["card", "cash", "no charge"], [7, 3, 0.2]),
        categorical(9, 980, ["card", "cash", "no charge"], [7, 3, 0.2]),
      ),
      numericalColumn("duration", "prediction", refDuration, stableDuration),
    ],
    {
      predictions: 980,
      matched: 950,
      rmse: 5.61,
      mae: 4.02,
      bias: -0.21,
      training: { metric: "valid_rmse", rmse: 5.4871 },
      factor: 1.2,
      regressed: false,
    },
  );
  const v4: VersionReport = {
    version: "4",
    rows: 0,
    status: "no_data",
    columns: [],
    dataset: { status: "no_data", columns: 0, driftShare: 0.5 },
  };
  return {
    format: MONITOR_RESULT_FORMAT,
    model: "ride-duration",
    modelUri: "models:/ride-duration@production",
    generatedAt: "2026-12-07T09:00:12.345Z",
    window: { from: "2026-12-06T09:00:00.000Z", to: "2026-12-07T09:00:00.000Z" },
    reference: {
      kind: "training",
      description: "training rides of run 9f2c1e0a, January 2024 (sampled to 5,000 rows)",
      rows: referenceRows,
      runId: "9f2c1e0a7b5d4c3e8a1f2b3c4d5e6f70",
    },
    current: {
      kind: "log",
      description: "prediction log, 24 files, 2026-12-06 09:00 to 2026-12-07 09:00 UTC",
      rows: 2220,
    },
    actuals: {
      description: "sqlite:mldeploy-data/rides.db table actuals (ride_id, duration)",
      rows: 2137,
    },
    versions: [v3, v2, v4],
    skipped: [
      {
        file: "mldeploy-data/prediction-log/ride-duration/2026-12-06/13-host-4242-7.parquet.tmp",
        reason: "unfinished part file (being written now, or left by a process that was killed)",
      },
      {
        file: "mldeploy-data/prediction-log/ride-duration/2026-12-06/17-host-4242-2.parquet",
        reason: "format version 0, expected 1",
      },
    ],
    settings: { driftShare: 0.5, rmseFactor: 1.2 },
  };
}

export const ATTACKS = {
  model: `<img src=x onerror="alert('model')">`,
  uri: `models:/"><script>alert('uri')</script>@prod`,
  column: `"><svg onload=alert('column')>`,
  category: `<script>alert(1)</script>`,
  version: `<iframe src="javascript:alert('version')"></iframe>`,
  description: `</style><link rel=stylesheet href="https://evil.example/x.css">`,
  file: `/tmp/<b onclick=alert('file')>x</b>.parquet`,
  reason: `it's "bad" & <u>torn</u>`,
  runId: `'; background: url(https://evil.example/track.png); '`,
  metric: `<style>body{display:none}</style>`,
} as const;

/** Every string from the data is an attack; the numbers are ordinary. */
export function attackResult(): MonitorResult {
  const ref = categorical(11, 400, [ATTACKS.category, "a&b", "plain"], [1, 1, 1]);
  const cur = categorical(12, 300, [ATTACKS.category, "a&b", "plain"], [3, 1, 1]);
  const column = categoricalColumn(ATTACKS.column, "input", ref, cur);
  const numbers = numericalColumn(
    `${ATTACKS.column}2`,
    "prediction",
    normal(13, 400, 10, 2),
    normal(14, 300, 12, 2),
    12,
  );
  const v = version(ATTACKS.version, 300, [column, numbers], {
    predictions: 300,
    matched: 120,
    rmse: 3.2,
    mae: 2.1,
    bias: 0.4,
    training: { metric: ATTACKS.metric, rmse: 3 },
    factor: 1.2,
    regressed: false,
  });
  return {
    format: MONITOR_RESULT_FORMAT,
    model: ATTACKS.model,
    modelUri: ATTACKS.uri,
    generatedAt: "2026-12-07T09:00:00.000Z",
    window: { from: "2026-12-07T08:00:00.000Z", to: "2026-12-07T09:00:00.000Z" },
    reference: { kind: "log", description: ATTACKS.description, rows: 400, runId: ATTACKS.runId },
    current: { kind: "batch", description: ATTACKS.description, rows: 300 },
    actuals: { description: ATTACKS.description, rows: 120 },
    versions: [v],
    skipped: [{ file: ATTACKS.file, reason: ATTACKS.reason }],
    settings: { driftShare: 0.5, rmseFactor: 1.2 },
  };
}

/** One categorical column whose histogram lists 50 categories (more than the contract's 20). */
export function fiftyCategoriesResult(): MonitorResult {
  const names = Array.from({ length: 50 }, (_, i) => `zone-${String(i).padStart(2, "0")}`);
  const weights = names.map((_, i) => 50 - i);
  const column = categoricalColumn(
    "PU_DO",
    "input",
    categorical(21, 3000, names, weights),
    categorical(22, 2000, names, weights.slice().reverse()),
    50,
  );
  const result = sampleResult();
  return { ...result, versions: [version("7", 2000, [column])], actuals: undefined };
}

/** 20 columns (10 numerical on 50 bins, 10 categorical on 20 categories) for the size check. */
export function twentyColumnsResult(): MonitorResult {
  const columns: ColumnReport[] = [];
  for (let i = 0; i < 10; i++) {
    const next = rng(100 + i);
    const ref = normal(200 + i, 3000, 10, 3).map((x) => x + next());
    const cur = normal(300 + i, 2000, 10 + i * 0.2, 3);
    columns.push(
      numericalColumn(`numeric_feature_${i}`, i === 9 ? "prediction" : "input", ref, cur, 50),
    );
    const cats = Array.from({ length: 40 }, (_, k) => `category_${i}_${k}`);
    const w = cats.map((_, k) => 1 / (k + 1));
    columns.push(
      categoricalColumn(
        `categorical_feature_${i}`,
        "input",
        categorical(400 + i, 3000, cats, w),
        categorical(500 + i, 2000, cats, w.slice().reverse()),
      ),
    );
  }
  const result = sampleResult();
  return { ...result, versions: [version("12", 2000, columns)] };
}

/** A window without any prediction: no version at all. */
export function emptyResult(): MonitorResult {
  return {
    ...sampleResult(),
    versions: [],
    current: { kind: "log", description: "prediction log, 0 files", rows: 0 },
    skipped: [],
  };
}
