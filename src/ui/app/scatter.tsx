/**
 * A scatter of one param or metric against another, one point per run, drawn by the shared uPlot
 * `Chart` (one points-only series per run, so the legend names each run) with each point
 * labelled by its run's name, and the values as a table for those who do not see the canvas.
 */
import { useMemo } from "preact/hooks";
import type uPlot from "uplot";
import type { Run } from "./api.js";
import { Chart, type ChartSeries } from "./chart.js";
import {
  fieldLabel,
  numericValue,
  runColor,
  runLabel,
  scatterData,
  type FieldKey,
} from "./compare-data.js";
import { formatMetric } from "./format.js";

/** Writes each series' label next to its points (uPlot's legend alone is far from the dots). */
const pointLabels: uPlot.Plugin = {
  hooks: {
    draw: (plot: uPlot) => {
      const ctx = plot.ctx;
      const ratio = devicePixelRatio || 1;
      ctx.save();
      ctx.font = `${12 * ratio}px system-ui, sans-serif`;
      ctx.fillStyle = "#1b1f24";
      ctx.textBaseline = "bottom";
      const xs = plot.data[0];
      for (let s = 1; s < plot.series.length; s++) {
        const ys = plot.data[s];
        for (let i = 0; i < xs.length; i++) {
          const y = ys[i];
          if (y === null || y === undefined) continue;
          const left = plot.valToPos(xs[i], "x", true);
          const top = plot.valToPos(y, "y", true);
          // Labels of points in the right half go to their left, to stay inside the plot.
          const right = left > plot.bbox.left + plot.bbox.width / 2;
          ctx.textAlign = right ? "right" : "left";
          const label = String(plot.series[s].label ?? "");
          ctx.fillText(label, left + (right ? -6 : 6) * ratio, top - 4 * ratio);
        }
      }
      ctx.restore();
    },
  },
};
const PLUGINS = [pointLabels];

export function Scatter(props: { runs: Run[]; x: FieldKey; y: FieldKey }) {
  const { runs, x, y } = props;
  const { data, plotted, missing } = useMemo(() => scatterData(runs, x, y), [runs, x, y]);
  const series = useMemo<ChartSeries[]>(
    () =>
      plotted.map((run) => ({
        label: runLabel(run),
        stroke: runColor(runs.indexOf(run)),
        points: true,
      })),
    [plotted, runs],
  );
  return (
    <>
      {plotted.length === 0 ? (
        <p>
          No run has both {fieldLabel(x)} and {fieldLabel(y)}.
        </p>
      ) : (
        <Chart
          label={`${fieldLabel(y)} against ${fieldLabel(x)}, one point per run`}
          data={data}
          series={series}
          xLabel={fieldLabel(x)}
          yLabel={fieldLabel(y)}
          plugins={PLUGINS}
        />
      )}
      {missing.length > 0 && (
        <p class="note">
          Not plotted (no numeric {fieldLabel(x)} or {fieldLabel(y)}):{" "}
          {missing.map(runLabel).join(", ")}.
        </p>
      )}
      <details>
        <summary>The points as a table</summary>
        <div class="scroll" role="region" aria-label="Scatter points" tabindex={0}>
          <table class="scatter-points">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col" class="number">
                  {fieldLabel(x)}
                </th>
                <th scope="col" class="number">
                  {fieldLabel(y)}
                </th>
              </tr>
            </thead>
            <tbody>
              {plotted.map((run) => (
                <tr key={run.id}>
                  <th scope="row">{runLabel(run)}</th>
                  <td class="number">{formatMetric(numericValue(run, x))}</td>
                  <td class="number">{formatMetric(numericValue(run, y))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </>
  );
}
