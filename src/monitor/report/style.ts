/**
 * The report's stylesheet, inlined into the document. Light and dark follow the reader's
 * system; colours meet WCAG AA on both; drift is also said in words and icons, so neither
 * greyscale print nor colour blindness loses it.
 */
export const STYLE = `
:root {
  color-scheme: light dark;
  --fg: #1b1f24;
  --muted: #57606a;
  --line: #d0d7de;
  --bg: #ffffff;
  --bg-alt: #f6f8fa;
  --accent: #0a58ca;
  --ref: #2f67b1;
  --cur: #b94e08;
  --ref-opacity: 0.6;
  --bad: #a4200f;
  --bad-bg: #fdf0ee;
  --bad-line: #e8a99f;
  --good: #16692d;
  --good-bg: #edf8f0;
  --good-line: #9fd3ac;
  --none: #4d5661;
  --none-bg: #f1f3f5;
  --none-line: #c9ced4;
}
@media screen and (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3;
    --muted: #9ea7b3;
    --line: #3d444d;
    --bg: #0d1117;
    --bg-alt: #161b22;
    --accent: #6cb6ff;
    --ref: #6ea8fe;
    --cur: #ffa657;
    --ref-opacity: 0.75;
    --bad: #ff9186;
    --bad-bg: #2d1417;
    --bad-line: #7d2f2a;
    --good: #6fdd8b;
    --good-bg: #10261a;
    --good-line: #2b6a3c;
    --none: #b5bdc6;
    --none-bg: #1c2128;
    --none-line: #444c56;
  }
}
* { box-sizing: border-box; }
html {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  line-height: 1.45;
  color: var(--fg);
  background: var(--bg);
  -webkit-text-size-adjust: 100%;
  text-size-adjust: 100%;
}
body { margin: 0 auto; max-width: 80rem; padding: 1.5rem 2rem 3rem; }
h1, h2, h3, h4 { line-height: 1.2; margin: 0; }
h1 { font-size: 1.75rem; overflow-wrap: anywhere; }
h2 { font-size: 1.35rem; }
h3 { font-size: 1.1rem; margin: 1.75rem 0 0.6rem; }
h4 { font-size: 1rem; overflow-wrap: anywhere; }
a { color: var(--accent); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; overflow-wrap: anywhere; }
.icon { display: inline-block; min-width: 1.1em; font-weight: 700; }
.eyebrow { margin: 0 0 0.3rem; color: var(--muted); font-size: 0.85rem; letter-spacing: 0.04em; text-transform: uppercase; }
.page-head { padding-bottom: 1.25rem; border-bottom: 1px solid var(--line); }
.page-head .uri { margin: 0.35rem 0 1rem; color: var(--muted); }
.meta { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 16rem), 1fr)); gap: 0.6rem 1.5rem; margin: 0; }
.meta div { min-width: 0; }
.meta dt, .card dt, .tile dt { color: var(--muted); font-size: 0.82rem; }
.meta dd, .card dd { margin: 0; overflow-wrap: anywhere; }
main > section { margin-top: 2rem; }
.compare { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 18rem), 1fr)); gap: 1rem; margin-top: 0.75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.9rem 1rem; background: var(--bg-alt); min-width: 0; }
.card h3 { margin: 0 0 0.5rem; font-size: 1rem; }
.card dl { margin: 0; display: grid; gap: 0.45rem; }
.card .big { font-size: 1.3rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.skipped { margin-top: 1rem; }
.skipped ul { margin: 0.5rem 0 0; padding-left: 1.2rem; }
.skipped li { margin: 0.25rem 0; overflow-wrap: anywhere; }
details > summary { cursor: pointer; color: var(--accent); padding: 0.35rem 0; }
.version { border-top: 1px solid var(--line); padding-top: 1.5rem; }
.version-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.25rem 1rem; }
.version-head h2 { overflow-wrap: anywhere; }
.rows { margin: 0; color: var(--muted); }
.banner { margin: 0.9rem 0 0; padding: 0.8rem 1rem; border-radius: 8px; border: 1px solid; border-left-width: 6px; font-size: 1.05rem; }
.banner.bad, .flag.bad { color: var(--bad); }
.banner.good, .flag.good { color: var(--good); }
.banner.none, .flag.none { color: var(--none); }
.banner.bad { background: var(--bad-bg); border-color: var(--bad-line); border-left-color: var(--bad); }
.banner.good { background: var(--good-bg); border-color: var(--good-line); border-left-color: var(--good); }
.banner.none { background: var(--none-bg); border-color: var(--none-line); border-left-color: var(--none); }
.banner strong { font-weight: 700; }
.flag { font-weight: 600; white-space: nowrap; }
p.flag { white-space: normal; margin: 0 0 0.75rem; }
.error-block { margin-top: 1.25rem; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; }
.error-block.regressed { border: 2px solid var(--bad); background: var(--bad-bg); }
.error-block h3 { margin: 0 0 0.6rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 9rem), 1fr)); gap: 0.75rem; margin: 0; }
.tile dd { margin: 0.15rem 0 0; }
.tile .value { display: block; font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile { min-width: 0; }
.tile .note { display: block; color: var(--muted); font-size: 0.82rem; overflow-wrap: anywhere; }
.error-block.regressed .tile .note, .error-block.regressed dt { color: var(--fg); }
.table-wrap { overflow-x: auto; max-width: 100%; }
.table-wrap:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
caption { text-align: left; color: var(--muted); font-size: 0.85rem; padding: 0 0 0.4rem; }
th, td { padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 0.8rem; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); white-space: nowrap; }
tbody th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.sub { display: block; color: var(--muted); font-size: 0.78rem; white-space: nowrap; }
.sub.reason { white-space: normal; max-width: 9rem; }
table.columns tbody th { max-width: 16rem; overflow-wrap: break-word; }
table.columns tr.drifted th { box-shadow: inset 4px 0 0 var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 28rem), 1fr)); gap: 1rem; }
.column-card { border: 1px solid var(--line); border-radius: 8px; padding: 0.9rem 1rem; min-width: 0; }
.column-card.drifted { border-color: var(--bad-line); border-top: 4px solid var(--bad); }
.card-head { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: baseline; justify-content: space-between; }
.facts { margin: 0.35rem 0 0; color: var(--muted); font-size: 0.86rem; }
.facts strong { color: var(--fg); }
.legend { display: flex; gap: 1.25rem; list-style: none; margin: 0.6rem 0 0.2rem; padding: 0; font-size: 0.85rem; }
.legend li { display: flex; align-items: center; gap: 0.4rem; }
.swatch { display: inline-block; width: 1.1rem; height: 0.8rem; border-radius: 2px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.swatch.ref { background: var(--ref); opacity: var(--ref-opacity); }
.swatch.cur { border: 2px solid var(--cur); }
.chart { display: block; width: 100%; height: auto; max-width: 32rem; margin: 0.25rem 0 0.5rem; overflow: visible; }
.chart text { fill: var(--muted); font-size: 11px; font-family: inherit; }
.chart text.label { fill: var(--fg); font-size: 12px; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { stroke: var(--muted); stroke-width: 1; }
.chart .bar.ref { fill: var(--ref); fill-opacity: var(--ref-opacity); }
.chart .bar.cur { fill: var(--cur); fill-opacity: 0.12; stroke: var(--cur); stroke-width: 1.5; }
.chart .hit { fill: var(--fg); fill-opacity: 0; }
.chart .hit:hover { fill-opacity: 0.07; }
.chart .other text.label { font-style: italic; }
table.quantiles { margin-top: 0.25rem; }
table.data { font-size: 0.82rem; }
table.data tbody th { white-space: nowrap; font-weight: 500; }
table.data td, table.data thead th + th { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line); color: var(--muted); font-size: 0.85rem; }
footer p { margin: 0.3rem 0; }
@media (max-width: 40rem) {
  body { padding: 1rem 0.85rem 2rem; }
  h1 { font-size: 1.4rem; }
  .banner { font-size: 1rem; }
  .column-card { padding: 0.75rem 0.65rem; }
  th, td { padding: 0.4rem 0.4rem; }
  table.quantiles { font-size: 0.82rem; }
  table.quantiles th, table.quantiles td { padding: 0.4rem 0.3rem; }
  .chart text, .chart text.label { font-size: 13px; }
}
@media print {
  :root { color-scheme: light; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  details > summary { color: var(--fg); }
  .table-wrap { overflow: visible; }
  /* Paper does not scroll: the widest table must fit an A4 page. */
  table { font-size: 8pt; }
  th, td { padding: 0.25rem 0.3rem; }
  thead th, td.num, th.num, .sub, .flag { white-space: normal; }
  .cards { grid-template-columns: repeat(auto-fill, minmax(min(100%, 20rem), 1fr)); }
  .sub { font-size: 7pt; }
  /* On paper the charts and quantiles stand for the values; the bin tables would double the pages. */
  .column-card details { display: none; }
  .column-card, .error-block, .banner, tr { break-inside: avoid; }
  .version { break-before: page; }
  .banner, .error-block, .column-card { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
`;

/**
 * Optional niceties only (the report reads the same without script): print with every
 * collapsed list open, and close again those the reader had closed.
 */
export const SCRIPT = `
addEventListener("beforeprint", () => {
  for (const d of document.querySelectorAll("details:not([open])")) { d.open = true; d.dataset.printOpened = ""; }
});
addEventListener("afterprint", () => {
  for (const d of document.querySelectorAll("details[data-print-opened]")) { d.open = false; delete d.dataset.printOpened; }
});
`;
