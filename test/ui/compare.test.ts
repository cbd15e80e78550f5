import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/registry/store/open-store.js";
import type { Run } from "../../src/registry/store/types.js";
import {
  alignHistories,
  bestIndexes,
  differs,
  isNumericField,
  numericValue,
  scatterData,
} from "../../src/ui/app/compare-data.js";
import { tempDir } from "../helpers/temp.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  type UiServer,
} from "./browser.js";

/**
 * Three runs that differ in alpha and optimizer but not depth, with valid_rmse histories of
 * different lengths and steps: run-c logs every other step, so the union of steps is
 * 0,1,2,3,4,6,8,10 (8 points); train_time is the same for all three.
 */
const RUNS = [
  { name: "run-a", alpha: "0.1", optimizer: "adam", rmse: [7, 6, 5.5], every: 1, r2: 0.81 },
  { name: "run-b", alpha: "0.5", optimizer: "sgd", rmse: [9, 8, 7, 6.5, 6.25], every: 1, r2: 0.7 },
  {
    name: "run-c",
    alpha: "1",
    optimizer: "adam",
    rmse: [12, 11, 10, 9, 8, 7.75],
    every: 2,
    r2: 0.6,
  },
];
const UNION_OF_STEPS = 8;

async function seed(dataDir: string): Promise<string[]> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("ride-duration");
    let start = Date.UTC(2026, 0, 1);
    const ids: string[] = [];
    for (const run of RUNS) {
      const created = await store.createRun({
        experimentId: experiment.id,
        name: run.name,
        startTime: (start += 60_000),
      });
      ids.push(created.id);
      await store.logParams(created.id, {
        alpha: run.alpha,
        optimizer: run.optimizer,
        depth: "4",
      });
      const last = (run.rmse.length - 1) * run.every;
      await store.logMetrics(created.id, [
        ...run.rmse.map((value, index) => ({ key: "valid_rmse", value, step: index * run.every })),
        { key: "r2", value: run.r2, step: last },
        { key: "train_time", value: 42, step: last },
      ]);
      await store.setRunTags(created.id, {
        team: "rides",
        ...(run.name === "run-a" ? { note: "baseline" } : {}),
      });
      await store.endRun(created.id, "FINISHED", start + 42_000);
    }
    return ids;
  } finally {
    await store.close();
  }
}

/** The keys of a side-by-side table's rows, top to bottom, and which of them differ. */
async function rows(page: Page, table: "compare-params" | "compare-metrics" | "compare-tags") {
  const locator = page.locator(`table[data-table="${table}"] tbody tr`);
  const keys = await locator.evaluateAll((trs) =>
    trs.map((tr) => `${tr.getAttribute("data-key")}:${tr.getAttribute("data-differs")}`),
  );
  return keys;
}

function run(name: string, params: Record<string, string>, metrics: Record<string, number>): Run {
  return {
    id: `id-${name}`,
    experimentId: "e",
    name,
    status: "FINISHED",
    startTime: 0,
    endTime: 1,
    artifactUri: "",
    params,
    tags: {},
    latestMetrics: metrics,
  };
}

describe("the Compare runs page's computations", () => {
  it("aligns histories of different steps on the union of their steps, with gaps", () => {
    const point = (step: number, value: number) => ({ step, value });
    expect(
      alignHistories([
        { points: [point(0, 1), point(1, 2)] },
        { points: [point(0, 5), point(2, 6), point(4, 7)] },
        { points: [] },
      ]),
    ).toEqual([
      [0, 1, 2, 4],
      [1, 2, null, null],
      [5, null, 6, 7],
      [null, null, null, null],
    ]);
  });

  it("marks the best value by the metric's name: lowest for losses and errors, else highest; none when all agree", () => {
    expect([...bestIndexes("valid_rmse", [6, 5.5, undefined, 5.5])]).toEqual([1, 3]);
    expect([...bestIndexes("accuracy", [0.8, 0.9, 0.7])]).toEqual([1]);
    expect([...bestIndexes("train_loss", [1, 1, 1])]).toEqual([]);
    expect([...bestIndexes("r2", [0.5, undefined])]).toEqual([]);
    expect(differs(["a", "a", undefined])).toBe(true);
    expect(differs(["a", "a"])).toBe(false);
  });

  it("reads numeric params as numbers, and scatters only the runs with both values", () => {
    const runs = [
      run("a", { alpha: "0.5", optimizer: "adam" }, { rmse: 2 }),
      run("b", { alpha: "1e-3", optimizer: "sgd" }, { rmse: 3 }),
      run("c", { alpha: "0.5" }, {}),
    ];
    expect(numericValue(runs[1], "params.alpha")).toBe(0.001);
    expect(isNumericField(runs, "params.alpha")).toBe(true);
    expect(isNumericField(runs, "params.optimizer")).toBe(false);
    const { data, plotted, missing } = scatterData(runs, "params.alpha", "metrics.rmse");
    expect(data).toEqual([
      [0.001, 0.5],
      [null, 2],
      [3, null],
    ]);
    expect(plotted.map((r) => r.name)).toEqual(["a", "b"]);
    expect(missing.map((r) => r.name)).toEqual(["c"]);
  });
});

const figure = (page: Page, name: RegExp) => page.getByRole("figure", { name });

describe.skipIf(!haveChromium)("Compare runs page in Debian's chromium", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let ids: string[];
  let compareUrl: string;

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-compare-");
    ids = await seed(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    compareUrl = `${server.url}/#/compare?runs=${ids.join(",")}`;
    await page.goto(compareUrl);
    await enterToken(page);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the runs, their params side by side with the differing rows marked, and the best metric values", async () => {
    const runRows = page.locator("table.compare-runs tbody tr");
    await expect.poll(() => runRows.count()).toBe(3);
    expect(await runRows.locator("th").allTextContents()).toEqual(["run-a", "run-b", "run-c"]);
    expect(await page.getByRole("link", { name: "run-b" }).getAttribute("href")).toBe(
      `#/runs/${ids[1]}`,
    );
    expect(await runRows.first().locator("td").allTextContents()).toEqual([
      "ride-duration",
      "FINISHED",
      expect.any(String),
      "42.0 s",
    ]);

    expect(await rows(page, "compare-params")).toEqual([
      "alpha:true",
      "depth:false",
      "optimizer:true",
    ]);
    // Not by colour alone: a marker, and words for screen readers.
    const alpha = page.locator('table[data-table="compare-params"] tr[data-key="alpha"]');
    expect(await alpha.locator("th").textContent()).toBe("≠ values differ: alpha");
    expect(await alpha.locator("td").allTextContents()).toEqual(["0.1", "0.5", "1"]);

    expect(await rows(page, "compare-metrics")).toEqual([
      "r2:true",
      "train_time:false",
      "valid_rmse:true",
    ]);
    // The lowest rmse and the highest r2 are the best; a row without differences has none.
    const best = (key: string) =>
      page
        .locator(`table[data-table="compare-metrics"] tr[data-key="${key}"] td`)
        .evaluateAll((tds) => tds.map((td) => td.getAttribute("data-best") === "true"));
    expect(await best("valid_rmse")).toEqual([true, false, false]);
    expect(await best("r2")).toEqual([true, false, false]);
    expect(await best("train_time")).toEqual([false, false, false]);
    expect(await page.locator('tr[data-key="valid_rmse"] td').first().textContent()).toBe(
      "5.5 ★ (best)",
    );
    // A tag only one run has differs too.
    expect(await rows(page, "compare-tags")).toEqual(["note:true", "team:false"]);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("overlays the metric's histories (one series per run on the union of steps), a 3-point scatter and parallel coordinates", async () => {
    // The first metric that differs: r2, logged once per run at its last step (2, 4, 10).
    expect(await page.getByLabel("Metric", { exact: true }).inputValue()).toBe("r2");
    await expect.poll(() => figure(page, /^r2 by step/).getAttribute("data-points")).toBe("3");
    await page.getByLabel("Metric", { exact: true }).selectOption("valid_rmse");
    const history = figure(page, /^valid_rmse by step/);
    await expect.poll(() => history.getAttribute("data-series")).toBe("3");
    expect(await history.getAttribute("data-points")).toBe(String(UNION_OF_STEPS));

    // Scatter defaults: the first differing numeric param against the history's metric.
    expect(await page.getByLabel("X axis").inputValue()).toBe("params.alpha");
    const scatter = figure(page, /against alpha/);
    await expect.poll(() => scatter.getAttribute("data-points")).toBe("3");
    expect(await scatter.getAttribute("data-series")).toBe("3");
    expect(await page.locator("table.scatter-points tbody tr").count()).toBe(3);

    // Parallel coordinates: the differing params and the chosen metric, one line per run.
    const svg = page.getByRole("img", { name: "Parallel coordinates" });
    expect(await svg.locator("g.axis").evaluateAll((gs) => gs.map((g) => g.dataset.key))).toEqual([
      "params.alpha",
      "params.optimizer",
      "metrics.valid_rmse",
    ]);
    expect(await svg.locator("path.line").count()).toBe(3);
    expect(await svg.locator("path.line").first().getAttribute("d")).toMatch(/^M[\d.,]+ L.+ L.+$/);
  });

  it("keeps every choice in the address: a reload restores the metric, the axes, the parallel axes and only-differences", async () => {
    await page.getByLabel("X axis").selectOption("metrics.r2");
    await page.getByLabel("Y axis").selectOption("params.alpha");
    await page.getByRole("checkbox", { name: "depth (param)" }).check();
    await page.getByRole("checkbox", { name: "optimizer (param)" }).uncheck();
    // By keyboard: the only-differences switch is a real checkbox.
    await page.getByLabel("Show only differences").focus();
    await page.keyboard.press("Space");
    await expect.poll(() => rows(page, "compare-params")).toEqual(["alpha:true", "optimizer:true"]);
    expect(await rows(page, "compare-metrics")).toEqual(["r2:true", "valid_rmse:true"]);
    expect(await rows(page, "compare-tags")).toEqual(["note:true"]);

    const url = new URL(page.url());
    const query = new URLSearchParams(url.hash.split("?")[1]);
    expect(Object.fromEntries(query)).toEqual({
      runs: ids.join(","),
      metric: "valid_rmse",
      x: "metrics.r2",
      y: "params.alpha",
      axes: "params.alpha,metrics.valid_rmse,params.depth",
      diff: "1",
    });

    await page.reload();
    await expect.poll(() => rows(page, "compare-params")).toEqual(["alpha:true", "optimizer:true"]);
    expect(await page.getByLabel("Show only differences").isChecked()).toBe(true);
    expect(await page.getByLabel("Metric", { exact: true }).inputValue()).toBe("valid_rmse");
    await expect
      .poll(() => figure(page, /valid_rmse by step/).getAttribute("data-series"))
      .toBe("3");
    expect(await page.getByLabel("X axis").inputValue()).toBe("metrics.r2");
    expect(await page.getByLabel("Y axis").inputValue()).toBe("params.alpha");
    expect(await figure(page, /alpha \(param\) against r2/).getAttribute("data-points")).toBe("3");
    const svg = page.getByRole("img", { name: "Parallel coordinates" });
    expect(await svg.locator("g.axis").count()).toBe(3);
    expect(await svg.locator("path.line").count()).toBe(3);
    expect(await page.getByRole("checkbox", { name: "depth (param)" }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: "optimizer (param)" }).isChecked()).toBe(false);
  });

  it("is clean for axe at 390×844 and 1280×800, with the value tables open", async () => {
    for (const summary of await page.locator(".compare summary").all()) await summary.click();
    expect(await page.locator("table.scatter-points").isVisible()).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 390, height: 844 });
    // The wide tables scroll inside their labelled regions, not the page.
    // (The charts follow the new width once their ResizeObserver fires.)
    const overflowing = () =>
      page
        .locator(".compare *")
        .evaluateAll((elements) =>
          elements
            .filter((el) => !el.closest(".scroll") && el.getBoundingClientRect().right > 390)
            .map((el) => el.outerHTML.slice(0, 80)),
        );
    await expect.poll(overflowing).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("names an unknown run id, and says so when fewer than two runs are left", async () => {
    await page.goto(`${server.url}/#/compare?runs=${ids[0]},no-such-run,${ids[2]}`);
    const alert = page.locator('[data-state="unknown"]');
    await expect
      .poll(() => alert.textContent())
      .toBe("Unknown run: “no-such-run” does not exist in this registry.");
    await expect.poll(() => page.locator("table.compare-runs tbody tr").count()).toBe(2);

    await page.goto(`${server.url}/#/compare?runs=${ids[0]},no-such-run`);
    await expect
      .poll(() => page.locator('[data-state="too-few"]').textContent())
      .toContain("Only one run chosen: comparing takes at least two.");
    expect(await alert.textContent()).toContain("“no-such-run”");
    expect(await seriousViolations(page)).toEqual([]);

    await page.goto(`${server.url}/#/compare`);
    await expect
      .poll(() => page.locator('[data-state="too-few"]').textContent())
      .toContain("No run chosen");
  });
});
