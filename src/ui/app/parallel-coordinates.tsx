/**
 * Parallel coordinates (one vertical axis per chosen param or metric, one line per run across
 * them), the view MLflow's compare page offers for seeing which params go with good metrics.
 * uPlot draws x–y charts only, so this is a small SVG of its own. The SVG is one image with a
 * title and a description for screen readers, and the same values follow as a table.
 */
import type { Run } from "./api.js";
import {
  bareKey,
  fieldLabel,
  fieldValue,
  isNumericField,
  numericValue,
  runColor,
  runLabel,
  type FieldKey,
} from "./compare-data.js";
import { formatMetric } from "./format.js";
import { RunLegend } from "./run-legend.js";

/** Where a run's value sits on an axis: 0 (bottom) to 1 (top); undefined when it has none. */
interface Axis {
  key: FieldKey;
  /** Tick labels from bottom to top with their positions. */
  ticks: Array<{ at: number; text: string }>;
  position: (run: Run) => number | undefined;
}

function show(value: string | number | undefined): string {
  if (value === undefined) return "—";
  return typeof value === "number" ? formatMetric(value) : value;
}

/**
 * A numeric axis spans the runs' min to max (one value alone sits mid-height); any other key is
 * categorical: its distinct values spread evenly, sorted as text with numbers in order.
 */
function axisOf(runs: Run[], key: FieldKey): Axis {
  if (isNumericField(runs, key)) {
    const values = runs.map((run) => numericValue(run, key)).filter((v) => v !== undefined);
    const min = Math.min(...values);
    const max = Math.max(...values);
    const at = (value: number) => (max === min ? 0.5 : (value - min) / (max - min));
    return {
      key,
      ticks:
        max === min
          ? [{ at: 0.5, text: formatMetric(min) }]
          : [
              { at: 0, text: formatMetric(min) },
              { at: 1, text: formatMetric(max) },
            ],
      position: (run) => {
        const value = numericValue(run, key);
        return value === undefined ? undefined : at(value);
      },
    };
  }
  const categories = [
    ...new Set(runs.map((run) => fieldValue(run, key)).filter((v) => v !== undefined)),
  ]
    .map(String)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const at = (index: number) => (categories.length === 1 ? 0.5 : index / (categories.length - 1));
  return {
    key,
    ticks: categories.map((text, index) => ({ at: at(index), text })),
    position: (run) => {
      const value = fieldValue(run, key);
      return value === undefined ? undefined : at(categories.indexOf(String(value)));
    },
  };
}

const SPACING = 140;
const MARGIN_X = 70;
const TOP = 40;
const HEIGHT = 220;
const BOTTOM = 30;

/** Shortens long labels so that neighbouring axes' labels do not overlap (the table has them whole). */
function clip(text: string, max = 18): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function ParallelCoordinates(props: { runs: Run[]; keys: FieldKey[]; id: string }) {
  const { runs, keys, id } = props;
  const axes = keys.map((key) => axisOf(runs, key));
  const width = MARGIN_X * 2 + SPACING * Math.max(axes.length - 1, 0);
  const height = TOP + HEIGHT + BOTTOM;
  const xOf = (index: number) => MARGIN_X + SPACING * index;
  const yOf = (at: number) => TOP + HEIGHT * (1 - at);
  // A run without a value on an axis breaks its line there (a new "M" segment after the gap).
  const pathOf = (run: Run) => {
    let d = "";
    let drawing = false;
    axes.forEach((axis, index) => {
      const at = axis.position(run);
      if (at === undefined) {
        drawing = false;
        return;
      }
      d += `${drawing ? "L" : "M"}${xOf(index)},${yOf(at).toFixed(1)} `;
      drawing = true;
    });
    return d.trim();
  };
  const description =
    `${runs.length} runs, one line each, across ${axes.length} axes: ` +
    axes.map((axis) => fieldLabel(axis.key)).join(", ") +
    ". The table that follows gives the same values.";
  return (
    <div class="parallel">
      <div class="scroll" role="region" aria-label="Parallel coordinates chart" tabindex={0}>
        <svg
          role="img"
          aria-labelledby={`${id}-title ${id}-desc`}
          viewBox={`0 0 ${width} ${height}`}
          width={width}
          height={height}
          data-axes={axes.length}
          data-lines={runs.length}
        >
          <title id={`${id}-title`}>Parallel coordinates</title>
          <desc id={`${id}-desc`}>{description}</desc>
          {axes.map((axis, index) => (
            <g class="axis" key={axis.key} data-key={axis.key}>
              <line x1={xOf(index)} x2={xOf(index)} y1={TOP} y2={TOP + HEIGHT} />
              <text class="axis-label" x={xOf(index)} y={TOP - 22} text-anchor="middle">
                {clip(bareKey(axis.key))}
              </text>
              <text class="axis-kind" x={xOf(index)} y={TOP - 8} text-anchor="middle">
                {axis.key.startsWith("params.") ? "param" : "metric"}
              </text>
              {axis.ticks.map((tick) => (
                <text
                  key={tick.text}
                  class="tick"
                  x={xOf(index) - 6}
                  y={yOf(tick.at) + 4}
                  text-anchor="end"
                >
                  {clip(tick.text, 10)}
                </text>
              ))}
            </g>
          ))}
          {runs.map((run, index) => (
            <path
              key={run.id}
              class="line"
              d={pathOf(run)}
              stroke={runColor(index)}
              data-run={run.id}
            >
              <title>{runLabel(run)}</title>
            </path>
          ))}
        </svg>
      </div>
      <RunLegend runs={runs} label="Lines" />
      <details>
        <summary>The values as a table</summary>
        <div class="scroll" role="region" aria-label="Parallel coordinates values" tabindex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                {axes.map((axis) => (
                  <th scope="col" key={axis.key}>
                    {fieldLabel(axis.key)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {runs.map((run) => (
                <tr key={run.id}>
                  <th scope="row">{runLabel(run)}</th>
                  {axes.map((axis) => (
                    <td key={axis.key}>{show(fieldValue(run, axis.key))}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
