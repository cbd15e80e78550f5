import type { Run } from "./api.js";
import { runColor, runLabel } from "./compare-data.js";

/** Which colour is which run, for the charts drawn outside uPlot (its own legend does that). */
export function RunLegend(props: { runs: Run[]; label: string }) {
  return (
    <ul class="run-legend" aria-label={props.label}>
      {props.runs.map((run, index) => (
        <li key={run.id}>
          <span class="swatch" style={{ background: runColor(index) }} aria-hidden="true" />
          {runLabel(run)}
        </li>
      ))}
    </ul>
  );
}
