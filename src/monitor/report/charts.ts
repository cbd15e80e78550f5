/**
 * Inline SVG charts of one column's distributions, reference against current: written as
 * markup here so the report needs no script and no library to show them, prints, and scales
 * with the page. Reference is drawn as filled bars and current as outlined bars, so the two
 * stay apart in greyscale and for readers who do not tell the colours apart.
 */
import type { Histogram } from "../job/types.js";
import { formatCount, formatNumber, formatShare } from "./format.js";
import { markup, type SafeHtml } from "./html.js";

export type NumericalHistogram = Extract<Histogram, { kind: "numerical" }>;
export type CategoricalHistogram = Extract<Histogram, { kind: "categorical" }>;

/** Categories drawn as their own bars; the rest join "other" (the contract lists ≤ 20). */
export const CATEGORY_LIMIT = 20;
/** Longest category label drawn on the chart; the full text is in the bar's tooltip. */
const LABEL_CHARS = 18;

const WIDTH = 400;

/** One decimal is finer than a pixel at any size the report is shown. */
const n = (value: number) => Math.round(value * 10) / 10;

const sum = (values: readonly number[]) => values.reduce((s, v) => s + v, 0);

/** Round step of 1, 2 or 5 × 10^k near `rough`. */
function niceStep(rough: number): number {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Ticks from 0 to at least `max` in round steps (the last tick is the axis' top). */
function zeroBasedTicks(max: number, count: number): number[] {
  const step = niceStep((max > 0 ? max : 1) / count);
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; i * step <= top + step / 2; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Round ticks inside [lo, hi]. */
function innerTicks(lo: number, hi: number, count: number): number[] {
  const step = niceStep((hi - lo) / count);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A chart's accessible name and description (ids unique in the document). */
interface ChartText {
  id: string;
  title: string;
  description: string;
}

function svgOpen(text: ChartText, height: number, className: string): SafeHtml {
  return markup`<svg class="chart ${className}" viewBox="0 0 ${WIDTH} ${n(height)}" role="img"
    aria-labelledby="${text.id}-t ${text.id}-d"><title id="${text.id}-t">${text.title}</title>
    <desc id="${text.id}-d">${text.description}</desc>`;
}

function binLabel(lo: number, hi: number): string {
  return `${formatNumber(lo)} to ${formatNumber(hi)}`;
}

/** Count of bins both sides and the edges agree on (defensive against a malformed result). */
export function binCount(h: NumericalHistogram): number {
  return Math.max(0, Math.min(h.edges.length - 1, h.reference.length, h.current.length));
}

/**
 * Overlaid histograms on the shared bin edges, as densities (count ÷ (window total × bin
 * width)) so that a window of 500 rows compares with a reference of 500,000.
 */
export function numericalChart(h: NumericalHistogram, text: ChartText): SafeHtml {
  const bins = binCount(h);
  const height = 200;
  const m = { left: 46, right: 12, top: 24, bottom: 28 };
  const plotWidth = WIDTH - m.left - m.right;
  const plotHeight = height - m.top - m.bottom;
  const refTotal = sum(h.reference.slice(0, bins));
  const curTotal = sum(h.current.slice(0, bins));
  const lo = h.edges[0];
  const hi = h.edges[bins];
  // Equal edges (a constant column) or non-finite ones: place the bins side by side instead.
  const byValue = bins > 0 && Number.isFinite(lo) && Number.isFinite(hi) && hi > lo;
  const xAt = (i: number) =>
    m.left + (byValue ? ((h.edges[i] - lo) / (hi - lo)) * plotWidth : (i / bins) * plotWidth);
  const width = (i: number) => (byValue ? h.edges[i + 1] - h.edges[i] : 1);
  const density = (count: number, total: number, i: number) =>
    total > 0 ? count / (total * (width(i) > 0 ? width(i) : 1)) : 0;
  const refDensity = Array.from({ length: bins }, (_, i) => density(h.reference[i], refTotal, i));
  const curDensity = Array.from({ length: bins }, (_, i) => density(h.current[i], curTotal, i));
  const yTicks = zeroBasedTicks(Math.max(0, ...refDensity, ...curDensity), 4);
  const yTop = yTicks[yTicks.length - 1];
  const yAt = (d: number) => m.top + plotHeight - (d / yTop) * plotHeight;
  const base = m.top + plotHeight;

  const grid = yTicks.map((t) => {
    const y = n(yAt(t));
    return markup`<line class="grid" x1="${m.left}" x2="${WIDTH - m.right}" y1="${y}" y2="${y}"/>
      <text class="tick" x="${m.left - 6}" y="${y + 4}" text-anchor="end">${formatNumber(t, 3)}</text>`;
  });
  const tickLabel = (x: number, value: number, anchor: string) =>
    markup`<text class="tick" x="${x}" y="${base + 17}" text-anchor="${anchor}">${formatNumber(value, 3)}</text>`;
  const xAxis = byValue
    ? innerTicks(lo, hi, 5).map((t) => {
        const x = n(m.left + ((t - lo) / (hi - lo)) * plotWidth);
        return markup`<line class="axis" x1="${x}" x2="${x}" y1="${base}" y2="${base + 4}"/>
          ${tickLabel(x, t, "middle")}`;
      })
    : bins > 0
      ? [tickLabel(m.left, lo, "start"), tickLabel(WIDTH - m.right, hi, "end")]
      : [];

  const bars = (densities: number[], className: string) =>
    densities.map((d, i) => {
      const x0 = xAt(i);
      // A pixel of air between bins while they are wide enough to spare it.
      const w = Math.max(0.5, xAt(i + 1) - x0 - (plotWidth / bins > 4 ? 1 : 0));
      const y = yAt(d);
      return markup`<rect class="bar ${className}" x="${n(x0)}" y="${n(y)}" width="${n(w)}"
        height="${n(base - y)}"/>`;
    });
  // A transparent column over each bin carries the bin's numbers as a tooltip.
  const hits = Array.from({ length: bins }, (_, i) => {
    const x0 = xAt(i);
    const tip =
      `${binLabel(h.edges[i], h.edges[i + 1])}: ` +
      `reference ${formatShare(refTotal ? h.reference[i] / refTotal : null)} (${formatCount(h.reference[i])}), ` +
      `current ${formatShare(curTotal ? h.current[i] / curTotal : null)} (${formatCount(h.current[i])})`;
    return markup`<rect class="hit" x="${n(x0)}" y="${m.top}"
      width="${n(Math.max(0.5, xAt(i + 1) - x0))}" height="${plotHeight}"><title>${tip}</title></rect>`;
  });

  return markup`${svgOpen(text, height, "histogram")}
    <text class="tick" x="${m.left - 6}" y="${m.top - 12}" text-anchor="end">density</text>
    ${grid}
    <g class="series-ref">${bars(refDensity, "ref")}</g>
    <g class="series-cur">${bars(curDensity, "cur")}</g>
    <line class="axis" x1="${m.left}" x2="${WIDTH - m.right}" y1="${base}" y2="${base}"/>
    ${xAxis}${hits}</svg>`;
}

/** One bar group of the categorical chart. */
export interface CategoryRow {
  label: string;
  reference: number;
  current: number;
  /** The row that gathers the categories not drawn on their own. */
  other: boolean;
}

/**
 * The categories drawn: the histogram's first CATEGORY_LIMIT (most frequent first) and one
 * "other" row with everything else, when anything else was seen.
 */
export function categoryRows(h: CategoricalHistogram): CategoryRow[] {
  const listed = Math.min(h.categories.length, h.reference.length, h.current.length);
  const shown = Math.min(listed, CATEGORY_LIMIT);
  const rows: CategoryRow[] = [];
  for (let i = 0; i < shown; i++)
    rows.push({
      label: h.categories[i],
      reference: h.reference[i],
      current: h.current[i],
      other: false,
    });
  const otherReference = h.otherReference + sum(h.reference.slice(shown, listed));
  const otherCurrent = h.otherCurrent + sum(h.current.slice(shown, listed));
  if (otherReference > 0 || otherCurrent > 0)
    rows.push({
      label: "other categories",
      reference: otherReference,
      current: otherCurrent,
      other: true,
    });
  return rows;
}

function shortLabel(label: string): string {
  const chars = [...label];
  if (label === "") return '""';
  return chars.length > LABEL_CHARS ? `${chars.slice(0, LABEL_CHARS - 1).join("")}…` : label;
}

/** Grouped horizontal bars, one group per category: each window's share of its rows. */
export function categoricalChart(h: CategoricalHistogram, text: ChartText): SafeHtml {
  const rows = categoryRows(h);
  const refTotal = sum(rows.map((r) => r.reference));
  const curTotal = sum(rows.map((r) => r.current));
  const m = { left: 132, right: 16, top: 8, bottom: 28 };
  const rowHeight = 24;
  const barHeight = 9;
  const plotWidth = WIDTH - m.left - m.right;
  const height = m.top + Math.max(1, rows.length) * rowHeight + m.bottom;
  const share = (count: number, total: number) => (total > 0 ? count / total : 0);
  const ticks = zeroBasedTicks(
    Math.max(
      0,
      ...rows.map((r) => Math.max(share(r.reference, refTotal), share(r.current, curTotal))),
    ),
    4,
  );
  const top = ticks[ticks.length - 1];
  const xAt = (s: number) => m.left + (s / top) * plotWidth;
  const base = m.top + rows.length * rowHeight;

  const grid = ticks.map((t) => {
    const x = n(xAt(t));
    return markup`<line class="grid" x1="${x}" x2="${x}" y1="${m.top}" y2="${base}"/>
      <text class="tick" x="${x}" y="${base + 17}" text-anchor="middle">${formatShare(t)}</text>`;
  });
  const groups = rows.map((row, i) => {
    const y = m.top + i * rowHeight + 2;
    const refShare = share(row.reference, refTotal);
    const curShare = share(row.current, curTotal);
    const tip =
      `${row.other ? "Other categories" : row.label}: ` +
      `reference ${formatShare(refTotal ? refShare : null)} (${formatCount(row.reference)}), ` +
      `current ${formatShare(curTotal ? curShare : null)} (${formatCount(row.current)})`;
    return markup`<g class="group${row.other ? " other" : ""}">
      <text class="label" x="${m.left - 8}" y="${y + barHeight + 3}" text-anchor="end">${shortLabel(row.label)}</text>
      <rect class="bar ref" x="${m.left}" y="${y}" width="${n(xAt(refShare) - m.left)}" height="${barHeight}"/>
      <rect class="bar cur" x="${m.left}" y="${y + barHeight + 1}" width="${n(xAt(curShare) - m.left)}"
        height="${barHeight}"/>
      <rect class="hit" x="0" y="${y - 2}" width="${WIDTH}" height="${rowHeight}"><title>${tip}</title></rect>
    </g>`;
  });
  return markup`${svgOpen(text, height, "categories")}
    ${grid}
    <line class="axis" x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${base}"/>
    ${groups}</svg>`;
}

/**
 * The chart's numbers as a table (for screen readers, copying, and print); its number cells
 * are aligned by the stylesheet rather than a class on each of them (a report holds thousands).
 */
export function histogramTable(h: Histogram, caption: string, captionId: string): SafeHtml {
  const rows: { label: SafeHtml | string; reference: number; current: number }[] =
    h.kind === "numerical"
      ? Array.from({ length: binCount(h) }, (_, i) => ({
          label: binLabel(h.edges[i], h.edges[i + 1]),
          reference: h.reference[i],
          current: h.current[i],
        }))
      : categoryRows(h).map((r) => ({
          label: r.other ? markup`<i>other categories</i>` : r.label,
          reference: r.reference,
          current: r.current,
        }));
  const refTotal = sum(rows.map((r) => r.reference));
  const curTotal = sum(rows.map((r) => r.current));
  const body = rows.map((r) => {
    const refShare = formatShare(refTotal ? r.reference / refTotal : null);
    const curShare = formatShare(curTotal ? r.current / curTotal : null);
    return markup`<tr><th scope="row">${r.label}</th><td>${formatCount(r.reference)}</td>
      <td>${refShare}</td><td>${formatCount(r.current)}</td><td>${curShare}</td></tr>`;
  });
  const first = h.kind === "numerical" ? "Bin" : "Category";
  return markup`<table class="data">
    <caption id="${captionId}">${caption}</caption>
    <thead><tr>
      <th scope="col">${first}</th>
      <th scope="col">Reference rows</th>
      <th scope="col">Reference share</th>
      <th scope="col">Current rows</th>
      <th scope="col">Current share</th>
    </tr></thead>
    <tbody>${body}</tbody>
  </table>`;
}
