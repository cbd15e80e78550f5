import { useId, useMemo, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import { getFullHistory, getMetricChart, type MetricChart } from "./api-run.js";
import type { Run } from "./api.js";
import { Chart, type ChartSeries } from "./chart.js";
import { Loaded, useLoad } from "./load.js";
import { smooth } from "./smooth.js";

/** The x axes a metric history can be drawn along. */
export type XAxis = "step" | "time" | "relative";

export const X_AXES: { value: XAxis; label: string }[] = [
  { value: "step", label: "Step" },
  { value: "time", label: "Wall time" },
  { value: "relative", label: "Relative time (s)" },
];

export function xAxisOf(text: string | null): XAxis {
  return X_AXES.find((axis) => axis.value === text)?.value ?? "step";
}

/** How the page's charts are drawn (from the URL). */
export interface ChartView {
  x: XAxis;
  log: boolean;
  /** Smoothing weight, 0 (none) to 0.99. */
  smoothing: number;
}

const LINE = "#0a58ca";
/** The raw series under a smoothed one: faint, as in TensorBoard. */
const FAINT = "rgba(10, 88, 202, 0.25)";

/** uPlot's columns for one history drawn as `view` says. */
function chartData(
  chart: MetricChart,
  run: Run,
  view: ChartView,
): { data: uPlot.AlignedData; series: ChartSeries[]; hidden: number } {
  const xs = chart.points.map((p) =>
    view.x === "step"
      ? p.step
      : view.x === "time"
        ? p.timestamp / 1000 // uPlot's time axis is in epoch seconds
        : (p.timestamp - run.startTime) / 1000,
  );
  let hidden = 0;
  // A log scale has no place for 0 or below: those points are left out (and counted).
  const raw = chart.points.map((p) => {
    if (view.log && p.value <= 0) {
      hidden++;
      return null;
    }
    return p.value;
  });
  if (view.smoothing <= 0) {
    return { data: [xs, raw], series: [{ label: chart.key, stroke: LINE }], hidden };
  }
  return {
    data: [xs, raw, smooth(raw, view.smoothing)],
    series: [
      { label: `${chart.key} (raw)`, stroke: FAINT },
      { label: `${chart.key} (smoothed ${view.smoothing})`, stroke: LINE },
    ],
    hidden,
  };
}

const count = (n: number) => n.toLocaleString("en-US");

/**
 * One metric's history as a chart. Long histories come downsampled by the server (LTTB, at most
 * CHART_POINTS points, which is what a chart's width can show); the button loads every point.
 */
export function MetricHistoryChart(props: { run: Run; metricKey: string; view: ChartView }) {
  const { run, metricKey, view } = props;
  const [full, setFull] = useState(false);
  const headingId = useId();
  // Relative time is wall time shifted: the server orders and downsamples along time for both.
  const order = view.x === "step" ? "step" : "time";
  const { state, retry } = useLoad(
    () =>
      full ? getFullHistory(run.id, metricKey, order) : getMetricChart(run.id, metricKey, order),
    `${run.id}\n${metricKey}\n${order}\n${full}`,
  );
  // While every point loads, the downsampled chart stays (same order: its x still ascends).
  const shown = useRef<{ order: string; chart: MetricChart } | null>(null);
  if (state.kind === "done") shown.current = { order, chart: state.value };
  const stay = state.kind === "loading" && shown.current?.order === order ? shown.current : null;
  return (
    <section class="metric-chart" aria-labelledby={headingId}>
      <h3 id={headingId}>{metricKey}</h3>
      {stay ? (
        <Drawn chart={stay.chart} run={run} view={view} loading onLoadAll={() => undefined} />
      ) : (
        <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
          {(chart) => <Drawn chart={chart} run={run} view={view} onLoadAll={() => setFull(true)} />}
        </Loaded>
      )}
    </section>
  );
}

function Drawn(props: {
  chart: MetricChart;
  run: Run;
  view: ChartView;
  /** Every point is on its way: the button waits. */
  loading?: boolean;
  onLoadAll: () => void;
}) {
  const { chart, run, view } = props;
  const drawn = useMemo(
    () => chartData(chart, run, view),
    [chart, run, view.x, view.log, view.smoothing],
  );
  const xLabel = X_AXES.find((axis) => axis.value === view.x)!.label;
  if (chart.total === 0) return <p>No points logged.</p>;
  return (
    <>
      <Chart
        label={`${chart.key} by ${xLabel.toLowerCase()}`}
        data={drawn.data}
        series={drawn.series}
        xLabel={xLabel}
        yLabel={chart.key}
        xTime={view.x === "time"}
        yLog={view.log}
      />
      <p class="chart-count" aria-live="polite">
        {chart.downsampled ? (
          <>
            Showing {count(chart.points.length)} of {count(chart.total)} points (downsampled).{" "}
            {props.loading === true ? (
              <span>Loading all {count(chart.total)} points…</span>
            ) : (
              <button type="button" onClick={props.onLoadAll}>
                Load all {count(chart.total)} points
              </button>
            )}
          </>
        ) : (
          <>
            All {count(chart.total)} point{chart.total === 1 ? "" : "s"}.
          </>
        )}
        {drawn.hidden > 0 && ` ${count(drawn.hidden)} at or below 0 left out of the log scale.`}
      </p>
    </>
  );
}
