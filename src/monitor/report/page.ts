/**
 * The report's page-level parts: what was monitored and when, which data was compared with
 * which (and what was skipped), and one summary line per version.
 */
import type { MonitorResult, VersionReport, WindowFrame } from "../job/types.js";
import {
  NOT_APPLICABLE,
  formatCount,
  formatNumber,
  formatShare,
  formatTime,
  formatWindow,
} from "./format.js";
import { markup, type SafeHtml } from "./html.js";
import { driftSummary, errorSummary } from "./version.js";

const KIND_LABELS: Record<WindowFrame["kind"], string> = {
  training: "Training data",
  log: "Prediction log",
  batch: "Batch predictions",
};

function item(label: string, value: SafeHtml | string): SafeHtml {
  return markup`<div>
    <dt>${label}</dt>
    <dd>${value}</dd>
  </div>`;
}

export function pageHeader(result: MonitorResult): SafeHtml {
  const window = formatWindow(result.window.from, result.window.to);
  return markup`<header class="page-head">
    <p class="eyebrow">mldeploy monitor · monitoring report</p>
    <h1>${result.model}</h1>
    <p class="uri"><code>${result.modelUri}</code></p>
    <dl class="meta">
      ${[
        item("Window (UTC)", markup`${window.range}${window.span ? ` (${window.span})` : ""}`),
        item("Generated", formatTime(result.generatedAt)),
        item("Dataset drift when", `≥ ${formatShare(result.settings.driftShare)} of columns drift`),
        item("RMSE flagged above", `${formatNumber(result.settings.rmseFactor)} × training RMSE`),
      ]}
    </dl>
  </header>`;
}

function skippedFiles(result: MonitorResult): SafeHtml {
  const skipped = result.skipped;
  if (skipped.length === 0) return markup`<p class="skipped">No log file was skipped.</p>`;
  const noun = skipped.length === 1 ? "log file was" : "log files were";
  return markup`<details class="skipped">
    <summary>${formatCount(skipped.length)} ${noun} skipped</summary>
    <ul>
      ${skipped.map((s) => markup`<li><code>${s.file}</code>: ${s.reason}</li>`)}
    </ul>
  </details>`;
}

export function dataSection(result: MonitorResult): SafeHtml {
  const { reference, current, actuals } = result;
  const window = formatWindow(result.window.from, result.window.to);
  const referenceCard = markup`<div class="card">
    <h3>Reference</h3>
    <dl>
      ${[
        item("Source", KIND_LABELS[reference.kind]),
        item("Rows", markup`<span class="big">${formatCount(reference.rows)}</span>`),
        item("Description", reference.description),
        reference.runId ? item("Run", markup`<code>${reference.runId}</code>`) : "",
      ]}
    </dl>
  </div>`;
  const currentCard = markup`<div class="card">
    <h3>Current</h3>
    <dl>
      ${[
        item("Source", KIND_LABELS[current.kind]),
        item("Rows", markup`<span class="big">${formatCount(current.rows)}</span>`),
        item("Description", current.description),
        item("Window", window.range),
      ]}
    </dl>
  </div>`;
  const actualsCard = actuals
    ? markup`<div class="card">
        <h3>Actuals</h3>
        <dl>
          ${[
            item("Rows", markup`<span class="big">${formatCount(actuals.rows)}</span>`),
            item("Description", actuals.description),
          ]}
        </dl>
      </div>`
    : markup`<div class="card">
        <h3>Actuals</h3>
        <p>No actuals source: the real error (RMSE, MAE, bias) was not computed.</p>
      </div>`;
  return markup`<section aria-labelledby="data-h">
    <h2 id="data-h">Data compared</h2>
    <div class="compare">${referenceCard}${currentCard}${actualsCard}</div>
    ${skippedFiles(result)}
  </section>`;
}

export function summarySection(result: MonitorResult, ids: string[]): SafeHtml {
  if (result.versions.length === 0)
    return markup`<section aria-labelledby="summary-h">
      <h2 id="summary-h">Summary</h2>
      <p class="banner none">
        <span class="icon" aria-hidden="true">–</span><strong>No data</strong>: the current window
        holds no predictions of this model.
      </p>
    </section>`;
  const drifted = (v: VersionReport) =>
    v.status === "ok" && v.dataset.status === "ok"
      ? `${formatCount(v.dataset.driftedColumns)} of ${formatCount(v.dataset.columns)}`
      : NOT_APPLICABLE;
  const rows = result.versions.map(
    (v, i) =>
      markup`<tr>
        <th scope="row"><a href="#${ids[i]}">${v.version}</a></th>
        <td>${driftSummary(v)}</td>
        <td class="num">${drifted(v)}</td>
        <td class="num">${v.error ? formatNumber(v.error.rmse) : NOT_APPLICABLE}</td>
        <td>${errorSummary(v.error)}</td>
        <td class="num">${formatCount(v.rows)}</td>
      </tr>`,
  );
  return markup`<section aria-labelledby="summary-h">
    <h2 id="summary-h">Summary</h2>
    <div class="table-wrap" role="region" aria-labelledby="summary-cap" tabindex="0">
      <table class="summary">
        <caption id="summary-cap">
          One row per model version in the current window
        </caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Dataset drift</th>
            <th scope="col" class="num">Drifted columns</th>
            <th scope="col" class="num">RMSE</th>
            <th scope="col">Against training</th>
            <th scope="col" class="num">Predictions</th>
          </tr>
        </thead>
        <tbody>
          ${rows}
        </tbody>
      </table>
    </div>
  </section>`;
}

export function pageFooter(result: MonitorResult): SafeHtml {
  return markup`<footer>
    <p>
      Generated by <code>mldeploy monitor</code> on ${formatTime(result.generatedAt)}. Numerical
      columns: Kolmogorov–Smirnov up to 1,000 reference rows, normed Wasserstein distance above;
      categorical: chi-squared (or a Z-test for two values) up to 1,000 rows, Jensen–Shannon
      distance above, as Evidently's defaults.
    </p>
    <p>
      Histograms compare densities on shared bins, so windows of different sizes are comparable.
      Hover a bar for its numbers; each chart's values are also in the table under it.
    </p>
  </footer>`;
}
