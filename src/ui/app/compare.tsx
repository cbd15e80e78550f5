/**
 * Compare runs (`#/compare?runs=<id>,<id>,…`), after MLflow's CompareRunView: the runs side by
 * side (params and latest metrics, differences marked), one metric's histories overlaid, a
 * scatter of any two params or metrics, and parallel coordinates. Every choice is in the address.
 */
import "./compare.css";
import type { Experiment, Run } from "./api.js";
import { loadComparedRuns, type ComparedRuns } from "./api-compare.js";
import {
  bestIndexes,
  differs,
  fieldKeys,
  fieldLabel,
  fieldValue,
  isFieldKey,
  isNumericField,
  lowerIsBetter,
  metricKeys,
  paramKeys,
  runColor,
  runLabel,
  type FieldKey,
} from "./compare-data.js";
import { compareHref, readState, type CompareState } from "./compare-state.js";
import { formatDuration, formatMetric, formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { MetricOverlay } from "./metric-overlay.js";
import { ParallelCoordinates } from "./parallel-coordinates.js";
import { href, replace, type Location } from "./router.js";
import { Scatter } from "./scatter.js";
import { useTitle } from "./title.js";

export function ComparePage(props: { location: Location }) {
  useTitle("Compare runs");
  const state = readState(props.location);
  return (
    <div class="compare">
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href("/experiments")}>Experiments</a> /
      </nav>
      <h1>Compare runs</h1>
      {state.runs.length < 2 ? (
        <FewerThanTwo count={state.runs.length} />
      ) : (
        <LoadComparison state={state} />
      )}
    </div>
  );
}

function FewerThanTwo(props: { count: number }) {
  return (
    <p class="notice" data-state="too-few">
      {props.count === 0 ? "No run chosen" : "Only one run chosen"}: comparing takes at least two.
      Select them on an <a href={href("/experiments")}>experiment</a>'s runs page, or list their ids
      in the address: <code>#/compare?runs=&lt;id&gt;,&lt;id&gt;</code>.
    </p>
  );
}

function LoadComparison(props: { state: CompareState }) {
  const { state } = props;
  const key = state.runs.join(",");
  const { state: loading, retry } = useLoad(() => loadComparedRuns(state.runs), key);
  return (
    <Loaded state={loading} retry={retry} notFound={(message) => <p class="error">{message}</p>}>
      {(compared) => <Comparison compared={compared} state={state} />}
    </Loaded>
  );
}

function Comparison(props: { compared: ComparedRuns; state: CompareState }) {
  const { compared, state } = props;
  const { runs, unknown } = compared;
  const update = (change: Partial<CompareState>) => replace(compareHref({ ...state, ...change }));
  return (
    <>
      {unknown.length > 0 && (
        <div class="error" role="alert" data-state="unknown">
          {unknown.map((id) => (
            <p key={id}>Unknown run: “{id}” does not exist in this registry.</p>
          ))}
        </div>
      )}
      {runs.length < 2 ? (
        <FewerThanTwo count={runs.length} />
      ) : (
        <>
          <RunsHeader runs={runs} experiments={compared.experiments} />
          <div class="toolbar">
            <label class="check">
              <input
                type="checkbox"
                checked={state.diff}
                onChange={(event) => update({ diff: event.currentTarget.checked })}
              />
              Show only differences
            </label>
          </div>
          <TextTable
            id="compare-params"
            title="Params"
            empty="These runs logged no params."
            runs={runs}
            onlyDiff={state.diff}
            values={(run) => run.params}
          />
          <MetricsTable runs={runs} onlyDiff={state.diff} />
          <TextTable
            id="compare-tags"
            title="Tags"
            empty="These runs have no tags."
            runs={runs}
            onlyDiff={state.diff}
            values={(run) => run.tags}
          />
          <HistorySection runs={runs} state={state} update={update} />
          <ScatterSection runs={runs} state={state} update={update} />
          <ParallelSection runs={runs} state={state} update={update} />
        </>
      )}
    </>
  );
}

const duration = (run: Run) => (run.endTime === null ? null : run.endTime - run.startTime);

function RunsHeader(props: { runs: Run[]; experiments: Map<string, Experiment> }) {
  return (
    <section aria-labelledby="compare-runs">
      <h2 id="compare-runs">Runs</h2>
      <div class="scroll" role="region" aria-label="Runs compared" tabindex={0}>
        <table class="compare-runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Experiment</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {props.runs.map((run, index) => (
              <tr key={run.id} data-run={run.id}>
                <th scope="row">
                  <span class="swatch" style={{ background: runColor(index) }} aria-hidden="true" />
                  <a href={href(`/runs/${encodeURIComponent(run.id)}`)}>{runLabel(run)}</a>
                </th>
                <td>
                  <a href={href(`/experiments/${encodeURIComponent(run.experimentId)}`)}>
                    {props.experiments.get(run.experimentId)?.name ?? run.experimentId}
                  </a>
                </td>
                <td>{run.status}</td>
                <td>{formatTime(run.startTime)}</td>
                <td>{formatDuration(duration(run))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface Row {
  key: string;
  cells: string[];
  differs: boolean;
  best: Set<number>;
}

/**
 * Keys down, one column per run. A row whose values differ is tinted and marked "≠" with the
 * words "values differ" for screen readers; the best metric value carries "★" and "best".
 */
function SideBySide(props: {
  id: string;
  title: string;
  runs: Run[];
  rows: Row[];
  onlyDiff: boolean;
  empty: string;
  note?: string;
}) {
  const { id, title, runs, onlyDiff } = props;
  const rows = onlyDiff ? props.rows.filter((row) => row.differs) : props.rows;
  const differing = props.rows.filter((row) => row.differs).length;
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p class="summary">
        {props.rows.length === 0
          ? props.empty
          : `${differing} of ${props.rows.length} differ` +
            (onlyDiff && differing < props.rows.length ? " (only those are shown)." : ".")}
      </p>
      {rows.length > 0 && (
        <div class="scroll" role="region" aria-label={title} tabindex={0}>
          <table class="side-by-side" data-table={id}>
            <thead>
              <tr>
                <th scope="col">Key</th>
                {runs.map((run) => (
                  <th scope="col" key={run.id}>
                    {runLabel(run)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr
                  key={row.key}
                  class={row.differs ? "differs" : undefined}
                  data-key={row.key}
                  data-differs={String(row.differs)}
                >
                  <th scope="row">
                    {row.differs && (
                      <>
                        <span class="marker" aria-hidden="true">
                          ≠{" "}
                        </span>
                        <span class="sr-only">values differ: </span>
                      </>
                    )}
                    {row.key}
                  </th>
                  {row.cells.map((cell, index) => (
                    <td
                      key={runs[index].id}
                      class={row.best.has(index) ? "best" : undefined}
                      data-best={row.best.has(index) ? "true" : undefined}
                    >
                      {cell === "" ? (
                        <>
                          <span aria-hidden="true">—</span>
                          <span class="sr-only">not logged</span>
                        </>
                      ) : (
                        cell
                      )}
                      {row.best.has(index) && (
                        <>
                          <span class="marker" aria-hidden="true">
                            {" "}
                            ★
                          </span>
                          <span class="sr-only"> (best)</span>
                        </>
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.note && rows.length > 0 && <p class="note">{props.note}</p>}
    </section>
  );
}

/** Text values (params or tags) side by side: one row per key any run has. */
function TextTable(props: {
  id: string;
  title: string;
  empty: string;
  runs: Run[];
  onlyDiff: boolean;
  values: (run: Run) => Record<string, string>;
}) {
  const keys = [...new Set(props.runs.flatMap((run) => Object.keys(props.values(run))))].sort();
  const rows = keys.map((key) => {
    const values = props.runs.map((run) => props.values(run)[key]);
    return {
      key,
      cells: values.map((v) => v ?? ""),
      differs: differs(values),
      best: new Set<number>(),
    };
  });
  return (
    <SideBySide
      id={props.id}
      title={props.title}
      runs={props.runs}
      rows={rows}
      onlyDiff={props.onlyDiff}
      empty={props.empty}
    />
  );
}

function MetricsTable(props: { runs: Run[]; onlyDiff: boolean }) {
  const rows = metricKeys(props.runs).map((key) => {
    const values = props.runs.map((run) => run.latestMetrics[key]);
    return {
      key,
      cells: values.map((v) => formatMetric(v)),
      differs: differs(values),
      best: bestIndexes(key, values),
    };
  });
  const lower = rows.filter((row) => lowerIsBetter(row.key)).map((row) => row.key);
  return (
    <SideBySide
      id="compare-metrics"
      title="Metrics (latest values)"
      runs={props.runs}
      rows={rows}
      onlyDiff={props.onlyDiff}
      empty="These runs logged no metrics."
      note={
        "★ marks the best value of a row that differs: the lowest for losses, errors and times" +
        (lower.length > 0 ? ` (here ${lower.join(", ")})` : "") +
        ", the highest otherwise."
      }
    />
  );
}

type Update = (change: Partial<CompareState>) => void;

/** The chosen metric if these runs logged it, else the first that differs, else the first. */
function chosenMetric(runs: Run[], wanted: string | undefined): string | undefined {
  const keys = metricKeys(runs);
  if (wanted !== undefined && keys.includes(wanted)) return wanted;
  return keys.find((key) => differs(runs.map((run) => run.latestMetrics[key]))) ?? keys.at(0);
}

function HistorySection(props: { runs: Run[]; state: CompareState; update: Update }) {
  const { runs, state, update } = props;
  const keys = metricKeys(runs);
  const metric = chosenMetric(runs, state.metric);
  return (
    <section aria-labelledby="compare-history">
      <h2 id="compare-history">Metric history</h2>
      {metric === undefined ? (
        <p>These runs logged no metrics.</p>
      ) : (
        <>
          <div class="toolbar">
            <label for="compare-metric">Metric</label>
            <select
              id="compare-metric"
              value={metric}
              onChange={(event) => update({ metric: event.currentTarget.value })}
            >
              {keys.map((key) => (
                <option key={key} value={key}>
                  {key}
                </option>
              ))}
            </select>
          </div>
          <MetricOverlay metric={metric} runs={runs} />
        </>
      )}
    </section>
  );
}

function FieldSelect(props: {
  id: string;
  label: string;
  value: FieldKey;
  keys: FieldKey[];
  onChange: (key: FieldKey) => void;
}) {
  const params = props.keys.filter((key) => key.startsWith("params."));
  const metrics = props.keys.filter((key) => key.startsWith("metrics."));
  const options = (keys: FieldKey[]) =>
    keys.map((key) => (
      <option key={key} value={key}>
        {fieldLabel(key)}
      </option>
    ));
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(event) => {
          const key = event.currentTarget.value;
          if (isFieldKey(key)) props.onChange(key);
        }}
      >
        {params.length > 0 && <optgroup label="Params">{options(params)}</optgroup>}
        {metrics.length > 0 && <optgroup label="Metrics">{options(metrics)}</optgroup>}
      </select>
    </>
  );
}

/** Whether a key's values differ between the runs. */
const fieldDiffers = (runs: Run[], key: FieldKey) =>
  differs(runs.map((run) => fieldValue(run, key)));

function ScatterSection(props: { runs: Run[]; state: CompareState; update: Update }) {
  const { runs, state, update } = props;
  const numeric = fieldKeys(runs).filter((key) => isNumericField(runs, key));
  const valid = (key: string | undefined): key is FieldKey =>
    key !== undefined && isFieldKey(key) && numeric.includes(key);
  // By default: a param that differs across the runs against the metric of the history chart.
  const x: FieldKey | undefined = valid(state.x)
    ? state.x
    : (numeric.find((key) => key.startsWith("params.") && fieldDiffers(runs, key)) ??
      numeric.at(0));
  const metric = chosenMetric(runs, state.metric);
  const y: FieldKey | undefined = valid(state.y)
    ? state.y
    : valid(`metrics.${metric}`)
      ? (`metrics.${metric}` as FieldKey)
      : (numeric.find((key) => key !== x) ?? x);
  return (
    <section aria-labelledby="compare-scatter">
      <h2 id="compare-scatter">Scatter</h2>
      {x === undefined || y === undefined ? (
        <p>No param or metric of these runs is a number: nothing to plot.</p>
      ) : (
        <>
          <div class="toolbar">
            <FieldSelect
              id="scatter-x"
              label="X axis"
              value={x}
              keys={numeric}
              onChange={(key) => update({ x: key })}
            />
            <FieldSelect
              id="scatter-y"
              label="Y axis"
              value={y}
              keys={numeric}
              onChange={(key) => update({ y: key })}
            />
          </div>
          <Scatter runs={runs} x={x} y={y} />
        </>
      )}
    </section>
  );
}

/** The params that differ (up to 5), then the history chart's metric: what people compare. */
function defaultAxes(runs: Run[], metric: string | undefined): FieldKey[] {
  const params = paramKeys(runs)
    .map((key): FieldKey => `params.${key}`)
    .filter((key) => fieldDiffers(runs, key))
    .slice(0, 5);
  return metric === undefined ? params : [...params, `metrics.${metric}`];
}

function ParallelSection(props: { runs: Run[]; state: CompareState; update: Update }) {
  const { runs, state, update } = props;
  const all = fieldKeys(runs);
  const axes =
    state.axes === undefined
      ? defaultAxes(runs, chosenMetric(runs, state.metric))
      : state.axes.filter((key): key is FieldKey => isFieldKey(key) && all.includes(key));
  const toggle = (key: FieldKey, on: boolean) =>
    update({ axes: on ? [...axes, key] : axes.filter((axis) => axis !== key) });
  return (
    <section aria-labelledby="compare-parallel">
      <h2 id="compare-parallel">Parallel coordinates</h2>
      <fieldset class="axes">
        <legend>Axes (in the order chosen)</legend>
        {all.map((key) => (
          <label key={key} class="check">
            <input
              type="checkbox"
              checked={axes.includes(key)}
              onChange={(event) => toggle(key, event.currentTarget.checked)}
            />
            {fieldLabel(key)}
          </label>
        ))}
      </fieldset>
      {axes.length === 0 ? (
        <p>Choose at least one axis.</p>
      ) : (
        <ParallelCoordinates runs={runs} keys={axes} id="parallel" />
      )}
    </section>
  );
}
