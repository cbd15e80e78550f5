/** The run page's API calls: the run, its experiment, and its metrics' histories. */
import type { MetricPoint } from "../../registry/store/types.js";
import { getJson, type Experiment, type Run } from "./api.js";
export type { MetricPoint };

/** GET /runs/:id/metrics/:key/chart's answer. */
export interface MetricChart {
  key: string;
  /** How many points the metric has. */
  total: number;
  downsampled: boolean;
  /** Ascending by the x asked for (step or timestamp). */
  points: MetricPoint[];
}

/** The most points the chart asks for: a chart is ~1000 pixels wide, more would not show. */
export const CHART_POINTS = 1000;

const runPath = (id: string) => `/runs/${encodeURIComponent(id)}`;

export const getRun = (id: string) => getJson<Run>(runPath(id));

export const getExperimentOf = (run: Run) =>
  getJson<Experiment>(`/experiments/${encodeURIComponent(run.experimentId)}`);

/** At most `maxPoints` of the history (LTTB-downsampled on the server), ordered along `x`. */
export const getMetricChart = (
  runId: string,
  key: string,
  x: "step" | "time",
  maxPoints = CHART_POINTS,
) =>
  getJson<MetricChart>(`${runPath(runId)}/metrics/${encodeURIComponent(key)}/chart`, {
    maxPoints: String(maxPoints),
    x,
  });

/** Every point of the history, ordered along `x` (the API sends it by step). */
export async function getFullHistory(
  runId: string,
  key: string,
  x: "step" | "time",
): Promise<MetricChart> {
  const points = await getJson<MetricPoint[]>(
    `${runPath(runId)}/metrics/${encodeURIComponent(key)}`,
  );
  if (x === "time") points.sort((a, b) => a.timestamp - b.timestamp || a.step - b.step);
  return { key, total: points.length, downsampled: false, points };
}
