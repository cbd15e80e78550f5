import { useEffect, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import { downloadArtifact } from "./api-artifacts.js";
import {
  loadDriftTests,
  loadMonitorSummary,
  loadReport,
  REPORT_ARTIFACT,
  type DriftTest,
  type MonitorSummary,
  type MonitorVersionSummary,
  type MonitorWindowSummary,
} from "./api-monitoring.js";
import { Chart } from "./chart.js";
import { formatMetric, formatTime } from "./format.js";
import { Loaded, TokenPrompt, useLoad } from "./load.js";
import { TokenRequired } from "./api.js";
import "./monitoring.css";
import { href, type Location } from "./router.js";

/**
 * A model's Monitoring section: per version, its latest window (dataset drift, every column's
 * test, the real error against the training RMSE), charts over its windows, and each window's
 * report. The chosen version (`mversion`) and the open report (`report`, a run id) are in the
 * URL, so a view can be shared and survives a reload.
 */
export function MonitoringSection(props: { model: string; location: Location }) {
  const { state, retry } = useLoad(() => loadMonitorSummary(props.model), `monitor:${props.model}`);
  return (
    <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
      {(summary) => <MonitoringView summary={summary} location={props.location} />}
    </Loaded>
  );
}

/** The page's address with some query parameters changed (the others kept). */
function linkTo(location: Location, changes: Record<string, string | undefined>): string {
  const query: Record<string, string | undefined> = Object.fromEntries(location.query);
  return href(location.path, { ...query, ...changes });
}

function MonitoringView(props: { summary: MonitorSummary; location: Location }) {
  const { summary, location } = props;
  if (summary.versions.length === 0) {
    return (
      <div class="monitor-empty">
        <p>No monitoring results for this model yet. Run a monitoring pass over its predictions:</p>
        <pre>
          <code>mldeploy monitor --model models:/{summary.model}@production</code>
        </pre>
        <p class="muted">
          It compares the logged predictions of the last day with the version's training data and
          stores drift and error per window here.
        </p>
      </div>
    );
  }
  const asked = location.query.get("mversion");
  const shown = summary.versions.find((v) => v.version === asked) ?? summary.versions[0];
  return (
    <>
      {summary.versions.length > 1 && (
        <nav class="monitor-versions" aria-label="Monitored versions">
          <ul>
            {summary.versions.map((v) => (
              <li key={v.version}>
                <a
                  href={linkTo(location, { mversion: v.version, report: undefined })}
                  aria-current={v === shown ? "true" : undefined}
                >
                  v{v.version}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <VersionMonitoring
        key={shown.version}
        model={summary.model}
        version={shown}
        location={location}
      />
    </>
  );
}

const percent = (share: number | null | undefined) =>
  share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)}%`;
const number = (value: number | null | undefined) =>
  value === null || value === undefined ? "—" : formatMetric(value);
const flag = (value: number | null | undefined) =>
  value === null || value === undefined ? "—" : value === 1 ? "yes" : "no";

/** "Dec 6, 2026, 11:00 AM – 12:00 PM": the end's date only when it differs (narrow on a phone). */
function windowText(window: MonitorWindowSummary): string {
  const start = new Date(window.windowStart);
  const end = new Date(window.windowEnd);
  const sameDay = start.toDateString() === end.toDateString();
  const endText = sameDay
    ? end.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : formatTime(window.windowEnd);
  return `${formatTime(window.windowStart)} – ${endText}`;
}

function VersionMonitoring(props: {
  model: string;
  version: MonitorVersionSummary;
  location: Location;
}) {
  const { version, location } = props;
  const { latest } = version;
  const m = latest.metrics;
  const report = location.query.get("report");
  const reportWindow =
    report === null ? undefined : version.windows.find((w) => w.runId === report);
  return (
    <div class="monitor-version" data-version={version.version}>
      <h3>
        Version {version.version}: latest window{" "}
        <span class="monitor-window">{windowText(latest)}</span>
      </h3>
      <dl class="monitor-facts">
        <div data-fact="rows">
          <dt>Predictions</dt>
          <dd>{number(m.rows)}</dd>
        </div>
        <div data-fact="dataset-drift" class={m.dataset_drift === 1 ? "bad" : undefined}>
          <dt>Dataset drift</dt>
          <dd>
            {flag(m.dataset_drift)}{" "}
            <span class="muted">({percent(m.drift_share)} of columns drifted)</span>
          </dd>
        </div>
        <div data-fact="rmse" class={m.regressed === 1 ? "bad" : undefined}>
          <dt>RMSE</dt>
          <dd>
            {number(m.rmse)}{" "}
            <span class="muted">
              (training {number(m.training_rmse)}
              {m.regressed === 1 ? ", regressed" : m.regressed === 0 ? ", no regression" : ""})
            </span>
          </dd>
        </div>
        <div data-fact="mae">
          <dt>MAE</dt>
          <dd>{number(m.mae)}</dd>
        </div>
        <div data-fact="bias">
          <dt>Bias</dt>
          <dd>{number(m.bias)}</dd>
        </div>
        <div data-fact="matched">
          <dt>With actuals</dt>
          <dd>{number(m.matched)}</dd>
        </div>
      </dl>
      {latest.runId !== null && (
        <p>
          <a href={linkTo(location, { report: latest.runId })}>Open report of the latest window</a>
        </p>
      )}
      <ColumnsTable version={version} />
      <MonitorCharts version={version} />
      <WindowsTable version={version} location={location} />
      {report !== null && (
        <ReportView
          key={report}
          runId={report}
          window={reportWindow}
          closeHref={linkTo(location, { report: undefined })}
        />
      )}
    </div>
  );
}

function ColumnsTable(props: { version: MonitorVersionSummary }) {
  const { latest, version } = props.version;
  // The test behind each score is in the run's result.json (the results table holds numbers).
  const runId = latest.runId;
  const { state } = useLoad<Record<string, DriftTest>>(
    () => (runId === null ? Promise.resolve({}) : loadDriftTests(runId, version).catch(() => ({}))),
    `tests:${runId}:${version}`,
  );
  const tests = state.kind === "done" ? state.value : {};
  if (latest.columns.length === 0) return <p class="muted">No per-column results.</p>;
  return (
    <div class="scroll" role="region" aria-label="Drift per column" tabindex={0}>
      <table class="monitor-columns">
        <caption>Drift per column, latest window</caption>
        <thead>
          <tr>
            <th scope="col">Column</th>
            <th scope="col">Method</th>
            <th scope="col">Score</th>
            <th scope="col">Threshold</th>
            <th scope="col">Drifted</th>
            <th scope="col">Missing</th>
            <th scope="col">New categories</th>
          </tr>
        </thead>
        <tbody>
          {latest.columns.map(({ column, metrics }) => {
            const test = tests[column];
            return (
              <tr key={column} data-column={column}>
                <th scope="row">{column}</th>
                <td data-cell="method">
                  {test === undefined ? "—" : test.method}
                  {test !== undefined && (
                    <span class="muted">
                      {" "}
                      ({test.scoreKind === "p_value" ? "p-value" : "distance"})
                    </span>
                  )}
                </td>
                <td data-cell="score">{number(metrics.drift_score)}</td>
                <td data-cell="threshold">
                  {test === undefined ? "—" : formatMetric(test.threshold)}
                </td>
                <td data-cell="drifted" class={metrics.drifted === 1 ? "bad" : undefined}>
                  {metrics.drifted === 1 ? "✓ yes" : metrics.drifted === 0 ? "✗ no" : "—"}
                </td>
                <td data-cell="missing">{percent(metrics.missing_share)}</td>
                <td data-cell="new-categories">{percent(metrics.new_category_share)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

const DRIFT_SERIES = [{ label: "drift share", stroke: "#0a58ca" }];
const RMSE_SERIES = [
  { label: "RMSE", stroke: "#b42318" },
  { label: "training RMSE", stroke: "#57606a" },
];

/** A metric per window (x: the window's end, epoch seconds, as uPlot's time axis wants). */
function series(windows: readonly MonitorWindowSummary[], ...metrics: string[]): uPlot.AlignedData {
  return [
    windows.map((w) => w.windowEnd / 1000),
    ...metrics.map((metric) => windows.map((w) => w.metrics[metric] ?? null)),
  ];
}

function MonitorCharts(props: { version: MonitorVersionSummary }) {
  const { windows } = props.version;
  const drift = series(windows, "drift_share");
  const hasRmse = windows.some((w) => typeof w.metrics.rmse === "number");
  const rmse = series(windows, "rmse", "training_rmse");
  return (
    <div class="monitor-charts">
      <div>
        <h4>Drift share per window</h4>
        <Chart
          label={`Share of drifted columns over ${windows.length} windows`}
          data={drift}
          series={DRIFT_SERIES}
          xLabel="window end"
          yLabel="drifted share"
          xTime
          height={200}
        />
      </div>
      <div>
        <h4>RMSE per window</h4>
        {hasRmse ? (
          <Chart
            label={`RMSE over ${windows.length} windows, with the training RMSE`}
            data={rmse}
            series={RMSE_SERIES}
            xLabel="window end"
            yLabel="minutes"
            xTime
            height={200}
          />
        ) : (
          <p class="muted">
            No actuals joined yet: give <code>mldeploy monitor --actuals &lt;url&gt;</code> to
            measure the real error.
          </p>
        )}
      </div>
    </div>
  );
}

function WindowsTable(props: { version: MonitorVersionSummary; location: Location }) {
  const newestFirst = [...props.version.windows].reverse();
  return (
    <div class="scroll" role="region" aria-label="Windows" tabindex={0}>
      <table class="monitor-windows">
        <caption>
          Windows, newest first
          {props.version.truncated ? ` (the newest ${newestFirst.length})` : ""}
        </caption>
        <thead>
          <tr>
            <th scope="col">Window</th>
            <th scope="col">Predictions</th>
            <th scope="col">Drift share</th>
            <th scope="col">Dataset drift</th>
            <th scope="col">RMSE</th>
            <th scope="col">Report</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((w) => (
            <tr key={`${w.windowStart}/${w.windowEnd}`} data-window-start={w.windowStart}>
              <th scope="row">{windowText(w)}</th>
              <td>{number(w.metrics.rows)}</td>
              <td>{percent(w.metrics.drift_share)}</td>
              <td class={w.metrics.dataset_drift === 1 ? "bad" : undefined}>
                {flag(w.metrics.dataset_drift)}
              </td>
              <td>{number(w.metrics.rmse)}</td>
              <td>
                {w.runId === null ? (
                  <span class="muted">—</span>
                ) : (
                  <a
                    href={linkTo(props.location, { report: w.runId })}
                    aria-label={`Open report of ${windowText(w)}`}
                  >
                    Open report
                  </a>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The window's report.html, fetched with the token and shown in a sandboxed iframe: the file is
 * written from logged data, so it runs in an opaque origin (no access to this page, its token
 * or the API) and is never opened as a page of the registry's origin.
 */
function ReportView(props: {
  runId: string;
  window: MonitorWindowSummary | undefined;
  closeHref: string;
}) {
  const { state, retry } = useLoad(() => loadReport(props.runId), `report:${props.runId}`);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [props.runId]);
  const title = props.window === undefined ? `run ${props.runId}` : windowText(props.window);
  const [download, setDownload] = useState<{ failed: string; token: boolean } | null>(null);
  const save = () => {
    setDownload(null);
    downloadArtifact(props.runId, REPORT_ARTIFACT).catch((error: Error) =>
      setDownload({ failed: error.message, token: error instanceof TokenRequired }),
    );
  };
  return (
    <section class="monitor-report" aria-labelledby="monitor-report-title">
      <h3 id="monitor-report-title" ref={heading} tabIndex={-1}>
        Report: {title}
      </h3>
      <p class="monitor-report-actions">
        <a href={props.closeHref}>Close report</a>
        <button type="button" onClick={save}>
          Download {REPORT_ARTIFACT}
        </button>
      </p>
      {download?.token === false && <p role="alert">Download failed: {download.failed}</p>}
      {download?.token === true && <TokenPrompt message={download.failed} onSaved={save} />}
      <Loaded
        state={state}
        retry={retry}
        notFound={(message) => <p role="alert">No report for this window: {message}</p>}
      >
        {(html) => (
          <iframe
            class="monitor-report-frame"
            title={`Monitoring report ${title}`}
            sandbox="allow-scripts"
            srcdoc={html}
          />
        )}
      </Loaded>
    </section>
  );
}
