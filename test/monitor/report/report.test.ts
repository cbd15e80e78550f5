import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ColumnReport, MonitorResult } from "../../../src/monitor/job/types.js";
import { renderReport } from "../../../src/monitor/report/index.js";
import { haveChromium, launchChromium } from "../../ui/browser.js";
import {
  ATTACKS,
  attackResult,
  emptyResult,
  fiftyCategoriesResult,
  sampleResult,
  twentyColumnsResult,
} from "./fixtures.js";
import { inPage, openReport, type OpenedReport } from "./open-report.js";

/** What the parsed document says about itself (read in chromium's DOM). */
interface DocumentFacts {
  standardsMode: boolean;
  lang: string;
  title: string;
  h1: string[];
  /** Attributes that could load or navigate anywhere but inside the document. */
  external: string[];
  /** Elements that fetch or embed something. */
  embedding: string[];
  eventHandlers: string[];
  cssUrls: number;
  scripts: number;
  styleSheets: number;
  duplicateIds: string[];
  danglingReferences: string[];
}

const DOCUMENT_FACTS = `
  const all = [...document.querySelectorAll("*")];
  const ids = all.map((e) => e.id).filter(Boolean);
  const LOADING = /^(src|srcset|href|xlink:href|action|formaction|poster|data|background|ping|cite|longdesc|manifest|codebase|archive)$/i;
  return {
    standardsMode: document.compatMode === "CSS1Compat" && document.doctype?.name === "html",
    lang: document.documentElement.lang,
    title: document.title,
    h1: [...document.querySelectorAll("h1")].map((e) => e.textContent),
    external: all.flatMap((e) => [...e.attributes]
      .filter((a) => LOADING.test(a.name) && !a.value.startsWith("#"))
      .map((a) => e.tagName + " " + a.name + "=" + a.value)),
    embedding: all.filter((e) => /^(img|iframe|link|object|embed|video|audio|source|image|use|frame|base|form|input)$/i.test(e.tagName))
      .map((e) => e.outerHTML.slice(0, 80)),
    eventHandlers: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => e.tagName + " " + a.name)),
    cssUrls: [...document.querySelectorAll("style")].filter((s) => /url\\(|@import/i.test(s.textContent)).length
      + all.filter((e) => e.hasAttribute("style")).length,
    scripts: document.scripts.length,
    styleSheets: document.styleSheets.length,
    duplicateIds: ids.filter((id, i) => ids.indexOf(id) !== i),
    danglingReferences: all.flatMap((e) => ["aria-labelledby", "aria-describedby", "href"]
      .flatMap((name) => (e.getAttribute(name) ?? "").split(" ").filter(Boolean)
        .map((ref) => name === "href" ? ref.slice(1) : ref)
        .filter((ref) => !document.getElementById(ref)))),
  };
`;

/** Rows of the columns table of one version section: each row's cells' text. */
const columnRows = (page: Page, section: string) =>
  inPage<{ state: string; cells: string[] }[]>(
    page,
    `return [...document.querySelectorAll(${JSON.stringify(`#${section} table.columns tbody tr`)})].map((tr) => ({
      state: tr.className,
      cells: [...tr.children].map((c) => c.textContent.replace(/\\s+/g, " ").trim()),
    }));`,
  );

/** Each chart of a version section: its column, series bar counts and drawn bar geometry. */
interface ChartFacts {
  column: string;
  kind: string;
  ref: { x: number; width: number; height: number }[];
  cur: { x: number; width: number; height: number }[];
  hits: string[];
  labels: string[];
}
const charts = (page: Page, section: string) =>
  inPage<ChartFacts[]>(
    page,
    `return [...document.querySelectorAll(${JSON.stringify(`#${section} article.column-card`)})].map((card) => {
      const svg = card.querySelector("svg");
      const geometry = (rect) => ({ x: +rect.getAttribute("x"), width: +rect.getAttribute("width"), height: +rect.getAttribute("height") });
      return {
        column: card.querySelector("h4").textContent,
        kind: svg.classList.contains("histogram") ? "numerical" : "categorical",
        ref: [...svg.querySelectorAll("rect.bar.ref")].map(geometry),
        cur: [...svg.querySelectorAll("rect.bar.cur")].map(geometry),
        hits: [...svg.querySelectorAll("rect.hit > title")].map((t) => t.textContent),
        labels: [...svg.querySelectorAll("text.label")].map((t) => t.textContent),
      };
    });`,
  );

const textOf = (page: Page, selector: string) =>
  inPage<string>(
    page,
    `return [...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.textContent.replace(/\\s+/g, " ").trim()).join(" | ");`,
  );

const byNameOf = (rows: { cells: string[] }[], name: string) =>
  rows.find((r) => r.cells[0] === name)?.cells;

/** Independent of the report's formatter: 3 significant digits, scientific below 0.001. */
function expectedScore(column: ColumnReport): string {
  if (column.drift.status !== "ok") return "no data";
  const score = column.drift.score;
  if (column.drift.scoreKind === "p_value" && score < 1e-3 && score > 0) {
    const [mantissa, exponent] = score.toExponential(1).split("e");
    return `${mantissa.replace(/\.0$/, "")}e${exponent}`;
  }
  return String(Number(score.toPrecision(3)));
}

describe.skipIf(!haveChromium)("monitoring report (parsed and read in Debian's chromium)", () => {
  let browser: Browser;
  const opened: OpenedReport[] = [];
  const open = async (result: MonitorResult) => {
    const report = await openReport(browser, result);
    opened.push(report);
    return report;
  };

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const report of opened) await report.page.close();
    await browser?.close();
  });

  it("is one standards-mode document that refers to nothing outside itself", async () => {
    const { page, html, requests, errors, url } = await open(sampleResult());
    const facts = await inPage<DocumentFacts>(page, DOCUMENT_FACTS);
    expect(facts.standardsMode).toBe(true);
    expect(facts.lang).toBe("en");
    expect(facts.title).toBe("Monitoring report: ride-duration, 2026-12-07 09:00 UTC");
    expect(facts.h1).toEqual(["ride-duration"]);
    expect(facts.external).toEqual([]);
    expect(facts.embedding).toEqual([]);
    expect(facts.cssUrls).toBe(0);
    expect(facts.scripts).toBe(1);
    // The stylesheet was allowed by the document's own Content-Security-Policy hash.
    expect(facts.styleSheets).toBe(1);
    expect(facts.duplicateIds).toEqual([]);
    expect(facts.danglingReferences).toEqual([]);
    expect(html).not.toMatch(/https?:\/\//);
    expect(requests).toEqual([url]);
    expect(errors).toEqual([]);
  });

  it("summarises each version and shows the data compared", async () => {
    const { page } = await open(sampleResult());
    const summary = await inPage<string[][]>(
      page,
      `return [...document.querySelectorAll("table.summary tbody tr")].map((tr) => [...tr.children].map((c) => c.textContent.replace(/\\s+/g, " ").trim()));`,
    );
    expect(summary).toEqual([
      ["3", "▲Drift", "3 of 4", "7.912", "▲Regressed", "1,240"],
      ["2", "✓No drift", "0 of 4", "5.61", "✓Within limit", "980"],
      ["4", "–No data", "—", "—", "—", "0"],
    ]);
    const header = await textOf(page, "header.page-head");
    expect(header).toContain("models:/ride-duration@production");
    expect(header).toContain("2026-12-06 09:00 → 2026-12-07 09:00 UTC (24 h)");
    expect(header).toContain("2026-12-07 09:00:12 UTC");
    const data = await textOf(page, ".compare .card");
    for (const text of [
      "Training data",
      "5,000",
      "training rides of run 9f2c1e0a, January 2024",
      "9f2c1e0a7b5d4c3e8a1f2b3c4d5e6f70",
      "Prediction log",
      "2,220",
      "2,137",
      "sqlite:mldeploy-data/rides.db table actuals",
    ])
      expect(data).toContain(text);
    expect(await textOf(page, "details.skipped summary")).toBe("2 log files were skipped");
    const skipped = await textOf(page, "details.skipped li");
    expect(skipped).toContain("13-host-4242-7.parquet.tmp: unfinished part file");
    expect(skipped).toContain("17-host-4242-2.parquet: format version 0, expected 1");
  });

  it("flags dataset drift and a regressed RMSE in words, with the numbers", async () => {
    const { page } = await open(sampleResult());
    expect(await textOf(page, "#v0 .banner")).toBe(
      "▲Dataset drift detected: 3 of 4 columns drifted (75%; dataset drift at ≥ 50%).",
    );
    expect(await textOf(page, "#v1 .banner")).toBe(
      "✓No dataset drift: 0 of 4 columns drifted (0%; dataset drift at ≥ 50%).",
    );
    expect(await textOf(page, "#v0 .error-block p.flag")).toBe(
      "▲Regressed: RMSE 7.912 > 1.2 × training RMSE 5.512 = 6.615.",
    );
    const tiles = await inPage<string[][]>(
      page,
      `return [...document.querySelectorAll("#v0 .tiles .tile")].map((t) =>
        ["dt", ".value", ".note"].map((s) => t.querySelector(s)?.textContent ?? ""));`,
    );
    expect(tiles).toEqual([
      ["RMSE", "7.912", ""],
      ["MAE", "5.804", ""],
      ["Bias", "+1.346", "mean of prediction − actual"],
      ["Matched", "1,187", "of 1,240 predictions have an actual (95.7%)"],
      ["Training RMSE", "5.512", "valid_rmse"],
      ["Regression limit", "6.615", "1.2 × training RMSE"],
    ]);
    expect(await textOf(page, "#v1 .error-block p.flag")).toContain("Within the training error");
    expect(
      await inPage<boolean>(
        page,
        `return !!document.querySelector("#v0 .error-block.regressed") && !document.querySelector("#v1 .error-block.regressed");`,
      ),
    ).toBe(true);
  });

  it("lists every column with its test, score, threshold and missing shares, drifted first", async () => {
    const result = sampleResult();
    const { page } = await open(result);
    const rows = await columnRows(page, "v0");
    const columns = result.versions[0].columns;
    const drifted = columns.filter((c) => c.drift.status === "ok" && c.drift.drifted);
    const stable = columns.filter((c) => c.drift.status === "ok" && !c.drift.drifted);
    expect(drifted.length).toBe(3);
    expect(rows.map((r) => r.cells[0])).toEqual(
      [...drifted, ...stable, columns.find((c) => c.name === "tip_amount")!].map((c) => c.name),
    );
    expect(rows.map((r) => r.state)).toEqual([
      "drifted",
      "drifted",
      "drifted",
      "stable",
      "no_data",
    ]);
    expect(byNameOf(rows, "tip_amount")).toEqual([
      "tip_amount",
      "–No datano values in the current window",
      "no data",
      "—",
      "—",
      "—",
      "input",
      "numerical",
      "0%0 of 5,000",
      "100%1,240 of 1,240",
      "—",
    ]);
    const byName = new Map(rows.map((r) => [r.cells[0], r.cells]));
    const distance = columns.find((c) => c.name === "trip_distance")!;
    expect(byName.get("trip_distance")).toEqual([
      "trip_distance",
      "▲Drifted",
      expectedScore(distance),
      "distance",
      "≥ 0.1",
      "Wasserstein (normed)",
      "input",
      "numerical",
      "0%0 of 5,000",
      "2.74%34 of 1,240",
      "—",
    ]);
    const zones = columns.find((c) => c.name === "PU_DO")!;
    expect(zones.newCategories!.newValues).toBe(103);
    expect(byName.get("PU_DO")).toEqual([
      "PU_DO",
      "▲Drifted",
      expectedScore(zones),
      "distance",
      "≥ 0.1",
      "Jensen–Shannon",
      "input",
      "categorical",
      "0%0 of 5,000",
      "0%0 of 1,240",
      "8.31%103 rows, 1 value",
    ]);
    // The column names link to their cards.
    const links = await inPage<string[]>(
      page,
      `return [...document.querySelectorAll("#v0 table.columns tbody th a")].map((a) => document.querySelector(a.getAttribute("href")).querySelector("h4").textContent);`,
    );
    expect(links).toEqual(rows.map((r) => r.cells[0]));
  });

  it("writes small p-values in scientific notation in the table", async () => {
    const result = attackResult();
    const { page } = await open(result);
    const rows = await columnRows(page, "v0");
    for (const column of result.versions[0].columns) {
      expect(column.drift.status === "ok" && column.drift.scoreKind).toBe("p_value");
      const row = rows.find((r) => r.cells[0] === column.name)!;
      expect(row.cells[2]).toMatch(/^\d(\.\d)?e-\d+$/);
      expect(row.cells[2]).toBe(expectedScore(column));
      expect(row.cells[3]).toBe("p-value");
    }
  });

  it("draws one bar per bin and series, as densities on the shared edges", async () => {
    const result = sampleResult();
    const { page } = await open(result);
    const drawn = await charts(page, "v0");
    const columns = result.versions[0].columns;
    expect(drawn.map((c) => c.column).sort()).toEqual(columns.map((c) => c.name).sort());
    for (const chart of drawn.filter((c) => c.kind === "numerical")) {
      const column = columns.find((c) => c.name === chart.column)!;
      if (column.histogram.kind !== "numerical") throw new Error("expected a numerical histogram");
      const bins = column.histogram.edges.length - 1;
      expect(chart.ref).toHaveLength(bins);
      expect(chart.cur).toHaveLength(bins);
      expect(chart.hits).toHaveLength(bins);
      // Densities: the area under each series is the same (1), whatever the window's size.
      const area = (bars: ChartFacts["ref"]) => bars.reduce((s, b) => s + b.height * b.width, 0);
      if (column.drift.status === "ok") expect(area(chart.cur) / area(chart.ref)).toBeCloseTo(1, 2);
      else expect(chart.cur.map((b) => b.height)).toEqual(new Array(bins).fill(0));
      // Heights follow the counts (equal bins): the tallest bar is the fullest bin.
      const counts = column.histogram.reference;
      const tallest = chart.ref.reduce(
        (best, b, i) => (b.height > chart.ref[best].height ? i : best),
        0,
      );
      expect(counts[tallest]).toBe(Math.max(...counts));
      for (let i = 0; i < bins; i++)
        expect(chart.ref[i].height / chart.ref[tallest].height).toBeCloseTo(
          counts[i] / counts[tallest],
          2,
        );
      const i = counts.findIndex((c) => c > 0);
      expect(chart.hits[i]).toContain(`reference`);
      expect(chart.hits[i]).toContain(`(${counts[i].toLocaleString("en-US")})`);
    }
    for (const chart of drawn.filter((c) => c.kind === "categorical")) {
      const column = columns.find((c) => c.name === chart.column)!;
      if (column.histogram.kind !== "categorical") throw new Error("expected categories");
      const h = column.histogram;
      const groups = h.categories.length + (h.otherReference + h.otherCurrent > 0 ? 1 : 0);
      expect(chart.ref).toHaveLength(groups);
      expect(chart.cur).toHaveLength(groups);
      expect(chart.labels.slice(0, h.categories.length)).toEqual(h.categories);
    }
  });

  it("draws unequal bins by their width and their density, not their count", async () => {
    const column: ColumnReport = {
      name: "fare",
      role: "input",
      kind: "numerical",
      drift: {
        status: "ok",
        kind: "numerical",
        referenceCount: 30,
        currentCount: 300,
        method: "ks",
        score: 0.2,
        scoreKind: "p_value",
        threshold: 0.05,
        drifted: false,
      },
      missing: {
        reference: { total: 30, missing: 0, share: 0 },
        current: { total: 300, missing: 0, share: 0 },
      },
      // Equal counts on bins 1, 2 and 4 wide: densities 4 : 2 : 1. The current window is ten
      // times larger and all in the first bin: its density there is 1, three times the
      // reference's (1/3).
      histogram: {
        kind: "numerical",
        edges: [0, 1, 3, 7],
        reference: [10, 10, 10],
        current: [300, 0, 0],
      },
    };
    const result = sampleResult();
    const one = { ...result.versions[1], columns: [column] };
    const { page } = await open({ ...result, versions: [one] });
    const [chart] = await charts(page, "v0");
    const [a, b, c] = chart.ref;
    expect(a.height / c.height).toBeCloseTo(4, 1);
    expect(b.height / c.height).toBeCloseTo(2, 1);
    expect(chart.cur[0].height / a.height).toBeCloseTo(3, 1);
    expect(chart.cur[1].height).toBe(0);
    expect((c.x - b.x) / (b.x - a.x)).toBeCloseTo(2, 1);
    expect(chart.hits[1]).toBe("1 to 3: reference 33.3% (10), current 0% (0)");
  });

  it("shows quantiles of numerical columns", async () => {
    const result = sampleResult();
    const { page } = await open(result);
    const table = await inPage<string[][]>(
      page,
      `const card = [...document.querySelectorAll("#v0 article")].find((a) => a.querySelector("h4").textContent === "trip_distance");
       return [...card.querySelectorAll("table.quantiles tr")].map((tr) => [...tr.children].map((c) => c.textContent));`,
    );
    const q = result.versions[0].columns.find((c) => c.name === "trip_distance")!.quantiles!;
    expect(table[0]).toEqual(["Window", "p5", "p25", "p50", "p75", "p95"]);
    expect(table[1]).toEqual([
      "Reference",
      ...q.reference!.map((v) => String(Number(v.toPrecision(4)))),
    ]);
    expect(table[2]).toEqual([
      "Current",
      ...q.current!.map((v) => String(Number(v.toPrecision(4)))),
    ]);
  });

  it("says no data for a version without predictions and for an empty window", async () => {
    const { page } = await open(sampleResult());
    expect(await textOf(page, "#v2 .banner")).toBe(
      "–No data: this version made no predictions in the window.",
    );
    expect(
      await inPage<number>(page, `return document.querySelectorAll("#v2 table, #v2 svg").length;`),
    ).toBe(0);
    const empty = await open(emptyResult());
    expect(await textOf(empty.page, "main .banner")).toBe(
      "–No data: the current window holds no predictions of this model.",
    );
    expect(await textOf(empty.page, ".skipped")).toBe("No log file was skipped.");
  });

  it("shows the strings of the data as text, never as markup", async () => {
    const { page, html, dialogs, errors } = await open(attackResult());
    const facts = await inPage<DocumentFacts>(page, DOCUMENT_FACTS);
    expect(facts.title).toBe(`Monitoring report: ${ATTACKS.model}, 2026-12-07 09:00 UTC`);
    expect(facts.h1).toEqual([ATTACKS.model]);
    expect(facts.external).toEqual([]);
    expect(facts.embedding).toEqual([]);
    expect(facts.eventHandlers).toEqual([]);
    expect(facts.cssUrls).toBe(0);
    expect(facts.scripts).toBe(1);
    expect(facts.styleSheets).toBe(1);
    expect(facts.duplicateIds).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    expect(await inPage<string>(page, `return getComputedStyle(document.body).display;`)).toBe(
      "block",
    );
    const texts = await inPage<string[]>(
      page,
      `return [...document.querySelectorAll("code, h2, h4, th, dd, li, title, text, .note")].map((e) => e.textContent);`,
    );
    expect(texts).toContain(ATTACKS.uri);
    expect(texts).toContain(`Version ${ATTACKS.version}`);
    expect(texts).toContain(ATTACKS.column);
    expect(texts).toContain(ATTACKS.category);
    expect(texts).toContain(ATTACKS.description);
    expect(texts).toContain(ATTACKS.runId);
    expect(texts).toContain(ATTACKS.metric);
    expect(texts).toContain(`${ATTACKS.file}: ${ATTACKS.reason}`);
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<iframe");
  });

  it("draws 20 categories and folds the other 30 of 50 into one bar", async () => {
    const result = fiftyCategoriesResult();
    const { page } = await open(result);
    const h = result.versions[0].columns[0].histogram;
    if (h.kind !== "categorical") throw new Error("expected categories");
    expect(h.categories).toHaveLength(50);
    const [chart] = await charts(page, "v0");
    expect(chart.ref).toHaveLength(21);
    expect(chart.labels).toEqual([...h.categories.slice(0, 20), "other categories"]);
    const sum = (values: number[]) => values.reduce((s, v) => s + v, 0);
    const other = await inPage<string[]>(
      page,
      `return [...document.querySelectorAll("#v0 table.data tbody tr:last-child > *")].map((c) => c.textContent);`,
    );
    const refOther = sum(h.reference.slice(20));
    const curOther = sum(h.current.slice(20));
    expect(other.slice(0, 2)).toEqual(["other categories", refOther.toLocaleString("en-US")]);
    expect(other[3]).toBe(curOther.toLocaleString("en-US"));
  });

  it("stays small: 20 columns on 50 bins and 20 categories well under 1 MB", () => {
    const bytes = Buffer.byteLength(renderReport(twentyColumnsResult()));
    console.log(`20-column report: ${bytes.toLocaleString("en-US")} bytes`);
    expect(bytes).toBeLessThan(512 * 1024);
  });
});
