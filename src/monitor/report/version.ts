/**
 * One model version's part of the report: the drift verdict, the real error when actuals are
 * known, the per-column table (drifted first) and a card per column with its distributions.
 */
import type { ColumnReport, ErrorReport, VersionReport } from "../job/types.js";
import {
  binCount,
  categoricalChart,
  categoryRows,
  histogramTable,
  numericalChart,
} from "./charts.js";
import {
  METHOD_LABELS,
  NOT_APPLICABLE,
  NO_DATA,
  SCORE_KIND_LABELS,
  driftRule,
  formatCount,
  formatNumber,
  formatScore,
  formatShare,
  formatSigned,
  plural,
} from "./format.js";
import { markup, type SafeHtml } from "./html.js";

/** Icons are decoration: the words beside them carry the meaning (and the colour repeats it). */
const icon = (symbol: string) => markup`<span class="icon" aria-hidden="true">${symbol}</span>`;

export type ColumnState = "drifted" | "stable" | "no_data";

export function columnState(column: ColumnReport): ColumnState {
  if (column.drift.status !== "ok") return "no_data";
  return column.drift.drifted ? "drifted" : "stable";
}

const STATE_ORDER: Record<ColumnState, number> = { drifted: 0, stable: 1, no_data: 2 };

/** Drifted columns first, then the stable ones, then those without data; otherwise as given. */
export function sortColumns(columns: readonly ColumnReport[]): ColumnReport[] {
  return columns
    .map((column, index) => ({ column, index }))
    .sort(
      (a, b) =>
        STATE_ORDER[columnState(a.column)] - STATE_ORDER[columnState(b.column)] ||
        a.index - b.index,
    )
    .map((entry) => entry.column);
}

function stateFlag(state: ColumnState): SafeHtml {
  if (state === "drifted") return markup`<span class="flag bad">${icon("▲")}Drifted</span>`;
  if (state === "stable") return markup`<span class="flag good">${icon("✓")}No drift</span>`;
  return markup`<span class="flag none">${icon("–")}No data</span>`;
}

function noDataReason(column: ColumnReport): string {
  if (column.drift.status === "ok") return "";
  return column.drift.reason === "empty_current"
    ? "no values in the current window"
    : "no values in the reference";
}

/** The version's verdict, in words first: dataset drift, how many columns, against what. */
function banner(version: VersionReport): SafeHtml {
  if (version.status === "no_data")
    return markup`<p class="banner none">
      ${icon("–")}<strong>No data</strong>: this version made no predictions in the window.
    </p>`;
  const d = version.dataset;
  if (d.status === "no_data")
    return markup`<p class="banner none">
      ${icon("–")}<strong>No data</strong>: no monitored column has values in both windows
      (${formatCount(version.rows)} rows).
    </p>`;
  const counts = markup`${formatCount(d.driftedColumns)} of ${plural(d.columns, "column")} drifted
  (${formatShare(d.share)}; dataset drift at ≥ ${formatShare(d.driftShare)})`;
  return d.datasetDrift
    ? markup`<p class="banner bad">
        ${icon("▲")}<strong>Dataset drift detected</strong>: ${counts}.
      </p>`
    : markup`<p class="banner good">${icon("✓")}<strong>No dataset drift</strong>: ${counts}.</p>`;
}

function errorVerdict(error: ErrorReport): SafeHtml {
  if (error.rmse === null)
    return markup`<p class="flag none">
      ${icon("–")}No data: none of this version's ${formatCount(error.predictions)} predictions has
      an actual value yet.
    </p>`;
  if (error.training === null || error.regressed === null)
    return markup`<p class="flag none">
      ${icon("–")}Not compared: the version's training run has no RMSE to compare with.
    </p>`;
  const limit = error.training.rmse * error.factor;
  const rule = markup`RMSE ${formatNumber(error.rmse)} ${error.regressed ? ">" : "≤"}
  ${formatNumber(error.factor)} × training RMSE ${formatNumber(error.training.rmse)} =
  ${formatNumber(limit)}`;
  return error.regressed
    ? markup`<p class="flag bad">${icon("▲")}<strong>Regressed</strong>: ${rule}.</p>`
    : markup`<p class="flag good">
        ${icon("✓")}<strong>Within the training error</strong>: ${rule}.
      </p>`;
}

function tile(label: string, value: string, note?: string): SafeHtml {
  return markup`<div class="tile">
    <dt>${label}</dt>
    <dd>
      <span class="value">${value}</span>${note ? markup`<span class="note">${note}</span>` : ""}
    </dd>
  </div>`;
}

function errorBlock(error: ErrorReport, id: string): SafeHtml {
  // Landmarks are named with their version's heading too: every version has these parts.
  const coverage = error.predictions > 0 ? formatShare(error.matched / error.predictions) : NO_DATA;
  const training = error.training;
  return markup`<section
    class="error-block${error.regressed ? " regressed" : ""}"
    aria-labelledby="${id}-h ${id}-err"
  >
    <h3 id="${id}-err">Real error against actuals</h3>
    ${errorVerdict(error)}
    <dl class="tiles">
      ${[
        tile("RMSE", formatNumber(error.rmse)),
        tile("MAE", formatNumber(error.mae)),
        tile("Bias", formatSigned(error.bias), "mean of prediction − actual"),
        tile(
          "Matched",
          formatCount(error.matched),
          `of ${plural(error.predictions, "prediction")} have an actual (${coverage})`,
        ),
        ...(error.targetRange
          ? [
              tile(
                "Outside the training range",
                formatCount(error.outOfRange ?? 0),
                `actuals outside ${error.targetRange.filter}, left out as at training`,
              ),
            ]
          : []),
        tile(
          "Training RMSE",
          training ? formatNumber(training.rmse) : NO_DATA,
          training ? training.metric : "no metric in the run",
        ),
        tile(
          "Regression limit",
          training ? formatNumber(training.rmse * error.factor) : NO_DATA,
          `${formatNumber(error.factor)} × training RMSE`,
        ),
      ]}
    </dl>
  </section>`;
}

function shareCell(share: number | null, detail: string | null): SafeHtml {
  return markup`<td class="num">
    ${formatShare(share)}${detail ? markup`<span class="sub">${detail}</span>` : ""}
  </td>`;
}

function columnRow(column: ColumnReport, cardId: string): SafeHtml {
  const state = columnState(column);
  const drift = column.drift;
  const test =
    drift.status === "ok"
      ? markup`<td class="num">${formatScore(drift.score, drift.scoreKind)}</td>
          <td>${SCORE_KIND_LABELS[drift.scoreKind]}</td>
          <td class="num">${driftRule(drift.method, drift.threshold)}</td>
          <td>${METHOD_LABELS[drift.method]}</td>`
      : markup`<td class="num">${NO_DATA}</td>
          <td>${NOT_APPLICABLE}</td>
          <td class="num">${NOT_APPLICABLE}</td>
          <td>${NOT_APPLICABLE}</td>`;
  const missing = (m: ColumnReport["missing"]["reference"]) =>
    shareCell(m.share, `${formatCount(m.missing)} of ${formatCount(m.total)}`);
  const fresh = column.newCategories;
  const freshCell = !fresh
    ? markup`<td class="num">${NOT_APPLICABLE}</td>`
    : shareCell(
        fresh.share,
        fresh.newValues === 0
          ? "none"
          : `${plural(fresh.newValues, "row")}, ${plural(fresh.distinctNew, "value")}`,
      );
  const reason =
    state === "no_data" ? markup`<span class="sub reason">${noDataReason(column)}</span>` : "";
  return markup`<tr class="${state}">
    <th scope="row"><a href="#${cardId}">${column.name}</a></th>
    <td>${stateFlag(state)}${reason}</td>
    ${test}
    <td>${column.role}</td>
    <td>${column.kind}</td>
    ${missing(column.missing.reference)}
    ${missing(column.missing.current)}
    ${freshCell}
  </tr>`;
}

function columnTable(columns: readonly ColumnReport[], ids: string[], id: string): SafeHtml {
  return markup`<div
    class="table-wrap"
    role="region"
    aria-labelledby="${id}-h ${id}-cols-cap"
    tabindex="0"
  >
    <table class="columns">
      <caption id="${id}-cols-cap">
        Drift per column, drifted first
      </caption>
      <thead>
        <tr>
          <th scope="col">Column</th>
          <th scope="col">Drift</th>
          <th scope="col" class="num">Score</th>
          <th scope="col">Score kind</th>
          <th scope="col" class="num">Drifts at</th>
          <th scope="col">Test</th>
          <th scope="col">Role</th>
          <th scope="col">Kind</th>
          <th scope="col">Missing, reference</th>
          <th scope="col">Missing, current</th>
          <th scope="col">New categories</th>
        </tr>
      </thead>
      <tbody>
        ${columns.map((c, i) => columnRow(c, ids[i]))}
      </tbody>
    </table>
  </div>`;
}

function quantileTable(column: ColumnReport, id: string, versionId: string): SafeHtml {
  const q = column.quantiles;
  if (!q || q.probabilities.length === 0) return markup``;
  const label = (p: number) => `p${formatNumber(p * 100, 3)}`;
  const row = (name: string, values: number[] | null) =>
    markup`<tr>
      <th scope="row">${name}</th>
      ${q.probabilities.map((_, i) => markup`<td class="num">${values ? formatNumber(values[i]) : NO_DATA}</td>`)}
    </tr>`;
  return markup`<div
    class="table-wrap"
    role="region"
    aria-labelledby="${versionId}-h ${id}-q"
    tabindex="0"
  >
    <table class="quantiles">
      <caption id="${id}-q">
        Quantiles of ${column.name}
      </caption>
      <thead>
        <tr>
          <th scope="col">Window</th>
          ${q.probabilities.map((p) => markup`<th scope="col" class="num">${label(p)}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${row("Reference", q.reference)}${row("Current", q.current)}
      </tbody>
    </table>
  </div>`;
}

function facts(column: ColumnReport): SafeHtml {
  const drift = column.drift;
  const counts = `${plural(drift.referenceCount, "reference value")}, ${formatCount(drift.currentCount)} current`;
  if (drift.status !== "ok")
    return markup`<p class="facts">
      ${column.role} · ${column.kind} · No data: ${noDataReason(column)} (${counts}).
    </p>`;
  return markup`<p class="facts">
    ${column.role} · ${column.kind} · ${METHOD_LABELS[drift.method]}
    ${SCORE_KIND_LABELS[drift.scoreKind]}
    <strong>${formatScore(drift.score, drift.scoreKind)}</strong>, drifts at
    ${driftRule(drift.method, drift.threshold)} · ${counts}
  </p>`;
}

const LEGEND = markup`<ul class="legend">
  <li><span class="swatch ref" aria-hidden="true"></span>Reference</li>
  <li><span class="swatch cur" aria-hidden="true"></span>Current</li>
</ul>`;

function chartDescription(column: ColumnReport): string {
  const h = column.histogram;
  if (h.kind === "numerical") {
    const bins = binCount(h);
    const median = (values: number[] | null | undefined, p: number[]) => {
      const i = p.indexOf(0.5);
      return i >= 0 && values ? formatNumber(values[i]) : null;
    };
    const q = column.quantiles;
    const medians =
      q && median(q.reference, q.probabilities) !== null
        ? ` Median: reference ${median(q.reference, q.probabilities)}, current ${median(q.current, q.probabilities) ?? NO_DATA}.`
        : "";
    return bins === 0
      ? "No values to draw."
      : `Densities over ${bins} shared bins from ${formatNumber(h.edges[0])} to ${formatNumber(h.edges[bins])}: reference as filled bars, current as outlined bars.${medians}`;
  }
  const rows = categoryRows(h);
  const top = rows.find((r) => !r.other);
  return rows.length === 0
    ? "No values to draw."
    : `Share of rows per category for ${rows.length} categories (most frequent first${top ? `, led by ${top.label}` : ""}): reference as filled bars, current as outlined bars.`;
}

function columnCard(column: ColumnReport, id: string, versionId: string): SafeHtml {
  const state = columnState(column);
  const h = column.histogram;
  const text = {
    id: `${id}-chart`,
    title: `Distribution of ${column.name}, reference and current`,
    description: chartDescription(column),
  };
  const chart = h.kind === "numerical" ? numericalChart(h, text) : categoricalChart(h, text);
  const fresh = column.newCategories;
  const newLine = !fresh
    ? ""
    : fresh.newValues === 0
      ? markup`<p class="facts">
          New categories: none (every current value occurs in the reference).
        </p>`
      : markup`<p class="facts">
          New categories: <strong>${formatShare(fresh.share)}</strong> of current values
          (${plural(fresh.newValues, "row")}, ${plural(fresh.distinctNew, "distinct value")} never
          seen in the reference).
        </p>`;
  const valuesLabel = h.kind === "numerical" ? "Histogram values" : "Category shares";
  return markup`<article class="column-card ${state}" id="${id}" aria-labelledby="${id}-h">
    <div class="card-head">
      <h4 id="${id}-h">${column.name}</h4>
      ${stateFlag(state)}
    </div>
    ${facts(column)}${newLine}${LEGEND}${chart}${quantileTable(column, id, versionId)}
    <details>
      <summary>${valuesLabel}</summary>
      <div
        class="table-wrap"
        role="region"
        aria-labelledby="${versionId}-h ${id}-vals"
        tabindex="0"
      >
        ${histogramTable(h, `${valuesLabel} of ${column.name}`, `${id}-vals`)}
      </div>
    </details>
  </article>`;
}

/** The section of one version; `id` is unique in the document (data never makes an id). */
export function versionSection(version: VersionReport, id: string): SafeHtml {
  const columns = sortColumns(version.columns);
  const ids = columns.map((_, i) => `${id}-c${i}`);
  const body =
    version.status === "no_data"
      ? markup``
      : markup`<h3 id="${id}-cols">Columns</h3>
          ${columnTable(columns, ids, id)}
          <h3 id="${id}-dist">Distributions</h3>
          <div class="cards">${columns.map((c, i) => columnCard(c, ids[i], id))}</div>`;
  return markup`<section class="version" id="${id}" aria-labelledby="${id}-h">
    <div class="version-head">
      <h2 id="${id}-h">Version ${version.version}</h2>
      <p class="rows">${plural(version.rows, "prediction")} in the window</p>
    </div>
    ${banner(version)}${version.error ? errorBlock(version.error, id) : ""}${body}
  </section>`;
}

/** The one-line verdict for the summary table. */
export function driftSummary(version: VersionReport): SafeHtml {
  const d = version.dataset;
  if (version.status === "no_data" || d.status === "no_data")
    return markup`<span class="flag none">${icon("–")}No data</span>`;
  return d.datasetDrift
    ? markup`<span class="flag bad">${icon("▲")}Drift</span>`
    : markup`<span class="flag good">${icon("✓")}No drift</span>`;
}

export function errorSummary(error: ErrorReport | undefined): SafeHtml {
  if (!error) return markup`${NOT_APPLICABLE}`;
  if (error.regressed === true) return markup`<span class="flag bad">${icon("▲")}Regressed</span>`;
  if (error.regressed === false)
    return markup`<span class="flag good">${icon("✓")}Within limit</span>`;
  if (error.rmse === null) return markup`<span class="flag none">${icon("–")}No data</span>`;
  return markup`<span class="flag none">${icon("–")}Not compared</span>`;
}
