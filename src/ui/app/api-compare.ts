/** The API calls of the Compare runs page. */
import { getJson, NotFound, type Experiment, type Run } from "./api.js";
import type { MetricPoint } from "../../registry/store/types.js";

/** GET /runs/{id}/metrics/{key}/chart: a history, LTTB-downsampled past maxPoints. */
export interface MetricChart {
  key: string;
  total: number;
  downsampled: boolean;
  points: MetricPoint[];
}

/** The runs asked for, in the order asked, and the ids the registry does not know. */
export interface ComparedRuns {
  runs: Run[];
  unknown: string[];
  /** Experiment names by id, for the runs' header. */
  experiments: Map<string, Experiment>;
}

/**
 * Loads every run of `ids` at once. An unknown id is kept aside (the page names it) rather than
 * failing the whole page; a missing token or an unreachable registry still fails it.
 */
export async function loadComparedRuns(ids: string[]): Promise<ComparedRuns> {
  const found = await Promise.all(
    ids.map((id) =>
      getJson<Run>(`/runs/${encodeURIComponent(id)}`).catch((error: unknown) => {
        if (error instanceof NotFound) return undefined;
        throw error;
      }),
    ),
  );
  const runs = found.filter((run): run is Run => run !== undefined);
  const unknown = ids.filter((_, index) => found[index] === undefined);
  const experimentIds = [...new Set(runs.map((run) => run.experimentId))];
  const experiments = new Map<string, Experiment>();
  await Promise.all(
    experimentIds.map(async (id) => {
      // A run whose experiment is gone still compares: its experiment shows as its id.
      const experiment = await getJson<Experiment>(`/experiments/${encodeURIComponent(id)}`).catch(
        (error: unknown) => {
          if (error instanceof NotFound) return undefined;
          throw error;
        },
      );
      if (experiment !== undefined) experiments.set(id, experiment);
    }),
  );
  return { runs, unknown, experiments };
}

/** One metric's (downsampled) history for each run, in the order of `runIds`, x = step. */
export function loadMetricCharts(runIds: string[], key: string): Promise<MetricChart[]> {
  return Promise.all(
    runIds.map((id) =>
      getJson<MetricChart>(
        `/runs/${encodeURIComponent(id)}/metrics/${encodeURIComponent(key)}/chart`,
        { maxPoints: "1000", x: "step" },
      ),
    ),
  );
}
