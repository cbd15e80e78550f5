import { getExperimentOf, getRun } from "./api-run.js";
import { NotFound, type Experiment, type Run } from "./api.js";
import { RunArtifacts } from "./artifacts.js";
import { formatDuration, formatMetric, formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { MetricHistoryChart, X_AXES, xAxisOf, type ChartView } from "./metric-chart.js";
import { NotFoundPage } from "./not-found.js";
import { href, replace, type Location } from "./router.js";
import { smoothingOf } from "./smooth.js";
import { useTitle } from "./title.js";
import "./run.css";

/** Charts drawn when the URL names none: the first metrics by name (each is one API call). */
const DEFAULT_CHARTS = 8;

/** Tags the tools set themselves (`mldeploy.*`, `mlflow.*`): listed apart from the user's. */
const isSystemTag = (key: string) => key.startsWith("mldeploy.") || key.startsWith("mlflow.");

interface RunAndExperiment {
  run: Run;
  /** null when the run's experiment cannot be read (the page still shows the run). */
  experiment: Experiment | null;
}

async function loadRun(id: string): Promise<RunAndExperiment> {
  const run = await getRun(id);
  const experiment = await getExperimentOf(run).catch((error: Error) => {
    if (error instanceof NotFound) return null;
    throw error;
  });
  return { run, experiment };
}

/** The run page's choices, all in the URL: `?x=time&log=1&smooth=0.6&metric=loss,acc`. */
interface RunQuery {
  x: string | undefined;
  log: string | undefined;
  smooth: string | undefined;
  metric: string | undefined;
}

function queryOf(location: Location): RunQuery {
  const get = (name: string) => location.query.get(name) ?? undefined;
  return { x: get("x"), log: get("log"), smooth: get("smooth"), metric: get("metric") };
}

export function RunPage(props: { id: string; location: Location }) {
  const { id, location } = props;
  const { state, retry } = useLoad(() => loadRun(id), id);
  useTitle(state.kind === "done" ? `Run ${state.value.run.name || id}` : "Run");
  return (
    <Loaded state={state} retry={retry} notFound={() => <NotFoundPage what={`The run “${id}”`} />}>
      {({ run, experiment }) => <RunView run={run} experiment={experiment} location={location} />}
    </Loaded>
  );
}

function RunView(props: { run: Run; experiment: Experiment | null; location: Location }) {
  const { run, experiment } = props;
  const query = queryOf(props.location);
  const go = (changes: Partial<RunQuery>) =>
    replace(href(`/runs/${encodeURIComponent(run.id)}`, { ...query, ...changes }));
  const experimentName = experiment?.name ?? run.experimentId;
  const experimentHref = href(`/experiments/${encodeURIComponent(run.experimentId)}`);
  const duration = run.endTime === null ? Date.now() - run.startTime : run.endTime - run.startTime;
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href("/experiments")}>Experiments</a> /{" "}
        <a href={experimentHref}>{experimentName}</a> /
      </nav>
      <h1>{run.name || run.id}</h1>
      <dl class="run-facts">
        <dt>Run ID</dt>
        <dd>
          <code>{run.id}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          <span class={`status status-${run.status.toLowerCase()}`}>{run.status}</span>
        </dd>
        <dt>Experiment</dt>
        <dd>
          <a href={experimentHref}>{experimentName}</a>
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(run.startTime)}</dd>
        <dt>Ended</dt>
        <dd>{run.endTime === null ? "—" : formatTime(run.endTime)}</dd>
        <dt>Duration</dt>
        <dd data-field="duration">
          {formatDuration(duration)}
          {run.endTime === null ? " (still running)" : ""}
        </dd>
      </dl>
      <div class="run-tables">
        <KeyValues
          title="Parameters"
          id="params"
          empty="No parameters logged."
          entries={Object.entries(run.params)}
        />
        <KeyValues
          title="Metrics"
          id="metrics"
          empty="No metrics logged."
          numeric
          entries={Object.entries(run.latestMetrics).map(([k, v]) => [k, formatMetric(v)])}
          note="Latest value of each metric (highest step)."
        />
        <KeyValues
          title="Tags"
          id="tags"
          empty="No tags."
          entries={Object.entries(run.tags).filter(([k]) => !isSystemTag(k))}
        />
        <KeyValues
          title="System tags"
          id="system-tags"
          empty="No system tags."
          entries={Object.entries(run.tags).filter(([k]) => isSystemTag(k))}
          note="Set by mldeploy and MLflow."
        />
      </div>
      <MetricCharts run={run} query={query} go={go} />
      <section class="run-artifacts">
        <RunArtifacts run={run} />
      </section>
    </>
  );
}

/** A two-column table of a run's params, metrics or tags, sorted by key. */
function KeyValues(props: {
  title: string;
  id: string;
  entries: [string, string][];
  empty: string;
  numeric?: boolean;
  note?: string;
}) {
  const headingId = `run-${props.id}`;
  const entries = [...props.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return (
    <section aria-labelledby={headingId} data-table={props.id}>
      <h2 id={headingId}>{props.title}</h2>
      {props.note && entries.length > 0 && <p class="note">{props.note}</p>}
      {entries.length === 0 ? (
        <p>{props.empty}</p>
      ) : (
        <div class="scroll" role="region" aria-labelledby={headingId} tabindex={0}>
          <table class="key-values">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col" class={props.numeric ? "number" : undefined}>
                  Value
                </th>
              </tr>
            </thead>
            <tbody>
              {entries.map(([key, value]) => (
                <tr key={key}>
                  <th scope="row">{key}</th>
                  <td class={props.numeric ? "number" : undefined}>{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The chart controls (x axis, log scale, smoothing, which metrics) and one chart per metric. */
function MetricCharts(props: {
  run: Run;
  query: RunQuery;
  go: (changes: Partial<RunQuery>) => void;
}) {
  const { run, query, go } = props;
  const keys = Object.keys(run.latestMetrics).sort();
  const view: ChartView = {
    x: xAxisOf(query.x ?? null),
    log: query.log === "1",
    smoothing: smoothingOf(query.smooth ?? null),
  };
  // Comma-separated: metric keys cannot hold a comma (letters, digits, _ - . space : /).
  const named = query.metric?.split(",").filter((key) => keys.includes(key));
  const charted = named ?? keys.slice(0, DEFAULT_CHARTS);
  const toggle = (key: string, on: boolean) => {
    const next = keys.filter((k) => (k === key ? on : charted.includes(k)));
    const isDefault =
      next.length === Math.min(keys.length, DEFAULT_CHARTS) && next.every((k, i) => k === keys[i]);
    // "," charts none (an empty value would drop out of the URL and mean the default).
    go({ metric: isDefault ? undefined : next.join(",") || "," });
  };
  return (
    <section aria-labelledby="run-charts" class="run-charts">
      <h2 id="run-charts">Metric history</h2>
      {keys.length === 0 ? (
        <p>No metrics logged.</p>
      ) : (
        <>
          <div class="chart-controls">
            <label>
              X axis{" "}
              <select
                value={view.x}
                onChange={(event) =>
                  go({
                    x: event.currentTarget.value === "step" ? undefined : event.currentTarget.value,
                  })
                }
              >
                {X_AXES.map((axis) => (
                  <option key={axis.value} value={axis.value}>
                    {axis.label}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <input
                type="checkbox"
                checked={view.log}
                onChange={(event) => go({ log: event.currentTarget.checked ? "1" : undefined })}
              />{" "}
              Log scale (y)
            </label>
            <label class="smoothing">
              Smoothing{" "}
              <input
                type="range"
                min="0"
                max="0.99"
                step="0.01"
                value={view.smoothing}
                onInput={(event) => {
                  const weight = Number(event.currentTarget.value);
                  go({ smooth: weight > 0 ? String(weight) : undefined });
                }}
              />{" "}
              <output>{view.smoothing.toFixed(2)}</output>
            </label>
          </div>
          {keys.length > 1 && (
            <fieldset class="chart-pick">
              <legend>Charted metrics</legend>
              {keys.map((key) => (
                <label key={key}>
                  <input
                    type="checkbox"
                    checked={charted.includes(key)}
                    onChange={(event) => toggle(key, event.currentTarget.checked)}
                  />{" "}
                  {key}
                </label>
              ))}
            </fieldset>
          )}
          <div class="chart-grid">
            {charted.map((key) => (
              <MetricHistoryChart key={key} run={run} metricKey={key} view={view} />
            ))}
          </div>
        </>
      )}
    </section>
  );
}
