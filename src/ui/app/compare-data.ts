/**
 * What the Compare runs page computes from the runs: keys, differences, best values, series.
 * Plain data in, plain data out (no DOM, no fetch), so that Node tests can check it directly.
 */
import type { Run } from "../../registry/store/types.js";

/** uPlot's AlignedData, as built here: x values, then one y array per series (null = gap). */
export type Aligned = [number[], ...Array<Array<number | null>>];

/** Okabe–Ito colours (told apart with colour-blindness), darkest first, readable on white. */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#b4487f", "#8a6100", "#000000", "#3d89c2"];

export function runColor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

export function runLabel(run: Run): string {
  return run.name || run.id;
}

export const paramKeys = (runs: Run[]): string[] =>
  [...new Set(runs.flatMap((run) => Object.keys(run.params)))].sort();

export const metricKeys = (runs: Run[]): string[] =>
  [...new Set(runs.flatMap((run) => Object.keys(run.latestMetrics)))].sort();

/** A param or metric as `params.<key>` / `metrics.<key>` (MLflow's search syntax). */
export type FieldKey = `params.${string}` | `metrics.${string}`;

export function isFieldKey(key: string): key is FieldKey {
  return /^(params|metrics)\..+/.test(key);
}

/** `params.alpha` → `alpha` (the key as logged). */
export function bareKey(key: FieldKey): string {
  return key.slice(key.indexOf(".") + 1);
}

export function fieldLabel(key: FieldKey): string {
  return `${bareKey(key)} (${key.startsWith("params.") ? "param" : "metric"})`;
}

/** A run's value of a namespaced key: params are text, metrics numbers. */
export function fieldValue(run: Run, key: FieldKey): string | number | undefined {
  const bare = bareKey(key);
  return key.startsWith("params.") ? run.params[bare] : run.latestMetrics[bare];
}

/** As a number: metrics as they are, params when the text is a finite number ("0.5", "1e-3"). */
export function numericValue(run: Run, key: FieldKey): number | undefined {
  const value = fieldValue(run, key);
  if (value === undefined) return undefined;
  if (typeof value === "number") return value;
  const trimmed = value.trim();
  const parsed = trimmed === "" ? NaN : Number(trimmed);
  return Number.isFinite(parsed) ? parsed : undefined;
}

/** The keys of params and metrics, namespaced: params first, as the tables list them. */
export function fieldKeys(runs: Run[]): FieldKey[] {
  return [
    ...paramKeys(runs).map((key): FieldKey => `params.${key}`),
    ...metricKeys(runs).map((key): FieldKey => `metrics.${key}`),
  ];
}

/** A key every run that has it gives a number for (a scatter can plot it). */
export function isNumericField(runs: Run[], key: FieldKey): boolean {
  const present = runs.filter((run) => fieldValue(run, key) !== undefined);
  return present.length > 0 && present.every((run) => numericValue(run, key) !== undefined);
}

/** True when the runs do not all have the same value (a run without the key differs too). */
export function differs(values: Array<string | number | undefined>): boolean {
  return values.some((value) => value !== values[0]);
}

/**
 * Whether a lower value of this metric is the better one: losses, errors and times are; scores
 * (accuracy, auc, f1, r2…) are not. MLflow's compare view leaves "best" to the reader; a
 * guess from the name is right for the metrics people log, and the page says which rule it used.
 */
export function lowerIsBetter(metric: string): boolean {
  return /loss|err|rmse|mse|mae|mape|smape|deviance|perplexity|latency|duration|time|cost/i.test(
    metric,
  );
}

/** The indexes (into `values`) of the best value, when the runs differ; none otherwise. */
export function bestIndexes(metric: string, values: Array<number | undefined>): Set<number> {
  const present = values.filter((value): value is number => value !== undefined);
  if (present.length < 2 || !differs(values)) return new Set();
  const best = lowerIsBetter(metric) ? Math.min(...present) : Math.max(...present);
  return new Set(values.flatMap((value, index) => (value === best ? [index] : [])));
}

/**
 * Histories of one metric from several runs on one x axis: the union of their steps, each run's
 * values at its own steps and null (a gap, spanned by the line) at the others': uPlot's
 * AlignedData. Steps logged twice keep the last point, as latestMetrics does.
 */
export function alignHistories(
  charts: Array<{ points: Array<{ step: number; value: number }> }>,
): Aligned {
  const steps = [...new Set(charts.flatMap((chart) => chart.points.map((p) => p.step)))].sort(
    (a, b) => a - b,
  );
  const index = new Map(steps.map((step, i) => [step, i]));
  const series = charts.map((chart) => {
    const ys: Array<number | null> = new Array<number | null>(steps.length).fill(null);
    for (const point of chart.points) ys[index.get(point.step)!] = point.value;
    return ys;
  });
  return [steps, ...series];
}

/**
 * One point per run on a shared x axis (uPlot plots every series against one x array): x holds
 * the runs' distinct x values, ascending, and run i's series has its y at its own x, null
 * elsewhere. Runs without both values are left out (the page names them).
 */
export function scatterData(
  runs: Run[],
  x: FieldKey,
  y: FieldKey,
): { data: Aligned; plotted: Run[]; missing: Run[] } {
  const plotted = runs.filter(
    (run) => numericValue(run, x) !== undefined && numericValue(run, y) !== undefined,
  );
  const missing = runs.filter((run) => !plotted.includes(run));
  const xs = [...new Set(plotted.map((run) => numericValue(run, x)!))].sort((a, b) => a - b);
  const series = plotted.map((run) => {
    const ys: Array<number | null> = new Array<number | null>(xs.length).fill(null);
    ys[xs.indexOf(numericValue(run, x)!)] = numericValue(run, y)!;
    return ys;
  });
  return { data: [xs, ...series], plotted, missing };
}
