/**
 * One metric's histories from several runs overlaid on one chart (x = step), as MLflow's
 * compare view draws them. Each history comes downsampled from the server (LTTB, at most 1000
 * points), so long runs stay fast; the runs' steps are merged onto one axis.
 */
import { useMemo } from "preact/hooks";
import type { Run } from "./api.js";
import { loadMetricCharts, type MetricChart } from "./api-compare.js";
import { Chart, type ChartSeries } from "./chart.js";
import { alignHistories, runColor, runLabel } from "./compare-data.js";
import { Loaded, useLoad } from "./load.js";
import { href } from "./router.js";

function OverlayChart(props: { metric: string; runs: Run[]; charts: MetricChart[]; all: Run[] }) {
  const { metric, runs, charts, all } = props;
  const data = useMemo(() => alignHistories(charts), [charts]);
  const series = useMemo<ChartSeries[]>(
    () => runs.map((run) => ({ label: runLabel(run), stroke: runColor(all.indexOf(run)) })),
    [runs, all],
  );
  const downsampled = charts.flatMap((chart, index) =>
    chart.downsampled ? [{ run: runs[index], chart }] : [],
  );
  return (
    <>
      <Chart
        label={`${metric} by step, one line per run`}
        data={data}
        series={series}
        xLabel="step"
        yLabel={metric}
      />
      {downsampled.map(({ run, chart }) => (
        <p class="note" key={run.id}>
          {runLabel(run)}: {chart.points.length} of {chart.total} points shown (downsampled);{" "}
          <a href={href(`/runs/${encodeURIComponent(run.id)}`)}>the run's page</a> has them all.
        </p>
      ))}
    </>
  );
}

/** The chart of `metric` for the runs that logged it; the others are named, not drawn. */
export function MetricOverlay(props: { metric: string; runs: Run[] }) {
  const { metric, runs } = props;
  const logged = runs.filter((run) => run.latestMetrics[metric] !== undefined);
  const ids = logged.map((run) => run.id);
  const { state, retry } = useLoad(
    () => loadMetricCharts(ids, metric),
    `${ids.join(",")}|${metric}`,
  );
  const without = runs.filter((run) => !logged.includes(run));
  return (
    <>
      <Loaded
        state={state}
        retry={retry}
        notFound={(message) => <p class="error">The metric's history is missing: {message}</p>}
      >
        {(charts) =>
          // For one render after the metric changed, the previous metric's charts are still here.
          charts.length === logged.length && charts.every((chart) => chart.key === metric) ? (
            <OverlayChart metric={metric} runs={logged} charts={charts} all={runs} />
          ) : (
            <p aria-live="polite">Loading…</p>
          )
        }
      </Loaded>
      {without.length > 0 && <p class="note">Not logged by {without.map(runLabel).join(", ")}.</p>}
    </>
  );
}
