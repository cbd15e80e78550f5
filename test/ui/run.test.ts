import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/registry/store/open-store.js";
import { smooth, smoothingOf } from "../../src/ui/app/smooth.js";
import { tempDir } from "../helpers/temp.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  type UiServer,
} from "./browser.js";

const START = Date.UTC(2026, 0, 1, 8, 0, 0);
const LOSS_STEPS = 5000;

/** One finished run with params, tags, a 5,000-step `loss` (with a spike) and a short `accuracy`. */
async function seedRegistry(dataDir: string): Promise<string> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("ride-duration");
    const run = await store.createRun({
      experimentId: experiment.id,
      name: "forest-200",
      startTime: START,
    });
    await store.logParams(run.id, { n_estimators: "200", max_depth: "8" });
    await store.setRunTags(run.id, { team: "pricing", "mldeploy.source": "train.py" });
    await store.logMetrics(
      run.id,
      Array.from({ length: LOSS_STEPS }, (_, step) => ({
        key: "loss",
        value: step === 2500 ? 10 : 1 / (1 + step / 100) + (step % 7) / 1000,
        step,
        timestamp: START + step * 50,
      })),
    );
    await store.logMetrics(run.id, [
      { key: "accuracy", value: 0.5, step: 0, timestamp: START },
      { key: "accuracy", value: 0.75, step: 1, timestamp: START + 60_000 },
      { key: "accuracy", value: 0.875, step: 2, timestamp: START + 120_000 },
    ]);
    await store.endRun(run.id, "FINISHED", START + 5 * 60_000 + 30_000);
    return run.id;
  } finally {
    await store.close();
  }
}

/** The rows of one of the page's key/value tables, as "key=value". */
async function table(page: Page, id: string): Promise<string[]> {
  const rows = page.locator(`[data-table="${id}"] tbody tr`);
  return (await rows.all()).length === 0
    ? []
    : Promise.all(
        (await rows.all()).map(async (row) => {
          const [key, value] = await Promise.all([
            row.locator("th").textContent(),
            row.locator("td").textContent(),
          ]);
          return `${key}=${value}`;
        }),
      );
}

describe("the charts' smoothing (exponential moving average, debiased as TensorBoard's)", () => {
  it("keeps a constant series, follows a step slowly, and leaves gaps alone", () => {
    expect(smooth([2, 2, 2, 2], 0.9)).toEqual([2, 2, 2, 2].map(() => expect.closeTo(2, 12)));
    expect(smooth([0, 10], 0.5)).toEqual([0, expect.closeTo(20 / 3, 12)]);
    expect(smooth([1, null, 3], 0.5)).toEqual([1, null, expect.closeTo(7 / 3, 12)]);
    expect(smooth([5, 1, 9], 0)).toEqual([5, 1, 9]);
  });

  it("reads the weight from the URL: 0 when absent or bad, at most 0.99", () => {
    expect(smoothingOf(null)).toBe(0);
    expect(smoothingOf("0.6")).toBe(0.6);
    expect(smoothingOf("7")).toBe(0.99);
    expect(smoothingOf("-1")).toBe(0);
    expect(smoothingOf("smooth")).toBe(0);
  });
});

const figure = (page: Page, name: string) => page.getByRole("figure", { name });

describe.skipIf(!haveChromium)("the run page in Debian's chromium (mldeploy ui)", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let runId: string;

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-run-");
    runId = await seedRegistry(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    // Each step waits 10 s at most: a missing element fails the test, not the file's timeout.
    page.setDefaultTimeout(10_000);
    // The token is kept for the tab: each test below can run alone (vitest -t).
    await page.goto(`${server.url}/#/runs/${runId}`);
    await enterToken(page);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the run: status, experiment, duration, params, latest metrics, tags and system tags", async () => {
    await page.goto(`${server.url}/#/runs/${runId}`);
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("forest-200");
    expect(await page.title()).toBe("Run forest-200 · mldeploy");
    const facts = page.locator(".run-facts");
    expect(await facts.textContent()).toContain(runId);
    expect(await facts.textContent()).toContain("FINISHED");
    expect(await page.locator('[data-field="duration"]').textContent()).toBe("5 min 30 s");
    const experimentLink = facts.getByRole("link", { name: "ride-duration" });
    expect(await experimentLink.getAttribute("href")).toMatch(/^#\/experiments\/[^/]+$/);
    expect(
      await page
        .getByRole("navigation", { name: "Breadcrumb" })
        .getByRole("link")
        .allTextContents(),
    ).toEqual(["Experiments", "ride-duration"]);

    expect(await table(page, "params")).toEqual(["max_depth=8", "n_estimators=200"]);
    expect(await table(page, "metrics")).toEqual(["accuracy=0.875", "loss=0.0206117"]);
    expect(await table(page, "tags")).toEqual(["team=pricing"]);
    expect(await table(page, "system-tags")).toEqual(["mldeploy.source=train.py"]);
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("charts the 5,000-step loss downsampled, then every point after one click", async () => {
    await page.goto(`${server.url}/#/runs/${runId}`);
    await page.reload();
    const loss = figure(page, "loss by step");
    await expect.poll(() => loss.getAttribute("data-points")).toBe("1000");
    const section = page.getByRole("region", { name: "loss" });
    expect(await section.locator(".chart-count").textContent()).toContain(
      "Showing 1,000 of 5,000 points (downsampled).",
    );
    // The short history is drawn whole, with nothing to load.
    await expect.poll(() => figure(page, "accuracy by step").getAttribute("data-points")).toBe("3");
    expect(await page.getByRole("region", { name: "accuracy" }).textContent()).toContain(
      "All 3 points.",
    );

    // uPlot drew them (data-drawn comes from its draw hook).
    await expect.poll(() => loss.getAttribute("data-drawn")).toBe("1000");

    // A real button: reached and pressed from the keyboard.
    const loadAll = section.getByRole("button", { name: "Load all 5,000 points" });
    await loadAll.focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => loss.getAttribute("data-points")).toBe("5000");
    await expect.poll(() => loss.getAttribute("data-drawn")).toBe("5000");
    expect(await section.locator(".chart-count").textContent()).toContain("All 5,000 points.");
    expect(await section.getByRole("button").count()).toBe(0);
  });

  it("keeps the x axis, log scale and smoothing in the URL and restores them on reload", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${server.url}/#/runs/${runId}`);
    // A fresh load: a full history loaded before is forgotten.
    await page.reload();
    await expect.poll(() => figure(page, "loss by step").getAttribute("data-points")).toBe("1000");
    expect(await figure(page, "loss by step").getAttribute("data-series")).toBe("1");

    await page.getByLabel("X axis").selectOption("time");
    await expect
      .poll(() => figure(page, "loss by wall time").getAttribute("data-points"))
      .toBe("1000");
    await page.getByLabel("Log scale (y)").check();
    await page.getByLabel("Smoothing").fill("0.6");
    // Raw faintly under the smoothed line: two series.
    await expect
      .poll(() => figure(page, "loss by wall time").getAttribute("data-series"))
      .toBe("2");
    const url = new URL(page.url());
    const query = new URLSearchParams(url.hash.split("?")[1]);
    expect(Object.fromEntries(query)).toEqual({ x: "time", log: "1", smooth: "0.6" });

    await page.reload();
    await expect
      .poll(() => figure(page, "loss by wall time").getAttribute("data-series"))
      .toBe("2");
    expect(await page.getByLabel("X axis").inputValue()).toBe("time");
    expect(await page.getByLabel("Log scale (y)").isChecked()).toBe(true);
    expect(await page.getByLabel("Smoothing").inputValue()).toBe("0.6");
    expect(await page.locator(".chart-controls output").textContent()).toBe("0.60");

    await page.getByLabel("X axis").selectOption("relative");
    await expect
      .poll(() => figure(page, "loss by relative time (s)").getAttribute("data-points"))
      .toBe("1000");
    expect(page.url()).toContain("x=relative");
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("charts only the metrics ticked, and keeps the choice in the URL", async () => {
    await page.goto(`${server.url}/#/runs/${runId}`);
    await page.reload();
    await expect.poll(() => page.getByRole("figure").count()).toBe(2);
    await page.getByRole("checkbox", { name: "accuracy" }).uncheck();
    await expect.poll(() => page.getByRole("figure").count()).toBe(1);
    expect(page.url()).toContain("metric=loss");
    await page.reload();
    await expect.poll(() => page.getByRole("figure").count()).toBe(1);
    expect(await page.getByRole("figure").getAttribute("aria-label")).toMatch(/^loss by/);
    expect(await page.getByRole("checkbox", { name: "accuracy" }).isChecked()).toBe(false);
  });

  it("shows a not-found page for an unknown run", async () => {
    for (const viewport of [
      { width: 390, height: 844 },
      { width: 1280, height: 800 },
    ]) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.url}/#/runs/no-such-run`);
      await expect
        .poll(() => page.getByRole("heading", { level: 1 }).textContent())
        .toBe("Not found");
      expect(await page.locator("main").textContent()).toContain(
        "The run “no-such-run” does not exist in this registry.",
      );
      expect(await seriousViolations(page)).toEqual([]);
    }
  });
});
