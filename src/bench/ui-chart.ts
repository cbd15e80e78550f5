/**
 * `npm run bench:ui-chart`
 *
 * How fast a run's metric chart shows (issue 20's target: under 1 s in headless Chromium for a
 * metric of 100,000 steps). A run with a 100,000-step `loss` (and a 10-step `lr`) is logged into
 * a fresh SQLite data dir; `mldeploy ui` (the built CLI, a real process) serves it; the system's
 * Chromium (launchSystemChromium) opens the run page in a fresh browser context each round.
 * Reported, each the median (and slowest) of ROUNDS rounds after one warm-up:
 *  - page: from navigation to the run page until uPlot has drawn the downsampled loss chart
 *    (the figure's data-drawn, set by uPlot's draw hook);
 *  - API: GET …/metrics/loss/chart (1000 points, LTTB over 100,000), from this process;
 *  - full history: from the click on "Load all 100,000 points" until they are drawn, and the
 *    API time of GET …/metrics/loss (every point) alone.
 * Also printed: the page's own clock from navigation start to the draw (without the driver's
 * polling), the server's CPU time per API call (from /proc: the other loads of a shared machine
 * do not inflate it as they do wall time). MLDEPLOY_BENCH_DETAIL=1 prints each round's requests.
 * Benchmarks print, they do not assert.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Browser } from "playwright-core";
import { localRegistryEnv, startListening, type ListeningProcess } from "./listening-process.js";
import { openStore } from "../registry/store/open-store.js";
import { launchSystemChromium } from "./chromium.js";
import { serverCpuSeconds } from "./process-cpu.js";

const STEPS = 100_000;
const ROUNDS = 7;
const TARGET_MS = 1000;

async function seed(dataDir: string): Promise<string> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("bench-ui-chart");
    const start = Date.now() - STEPS * 100;
    const run = await store.createRun({
      experimentId: experiment.id,
      name: "long",
      startTime: start,
    });
    await store.logParams(run.id, { lr: "0.1", epochs: "100" });
    const batch = 10_000;
    for (let from = 0; from < STEPS; from += batch) {
      await store.logMetrics(
        run.id,
        Array.from({ length: batch }, (_, i) => {
          const step = from + i;
          return {
            key: "loss",
            value: 1 / (1 + step / 1000) + 0.05 * Math.sin(step / 37) + (step % 9973 === 0 ? 1 : 0),
            step,
            timestamp: start + step * 100,
          };
        }),
      );
    }
    await store.logMetrics(
      run.id,
      Array.from({ length: 10 }, (_, step) => ({ key: "lr", value: 0.1 / (1 + step), step })),
    );
    await store.endRun(run.id, "FINISHED", start + STEPS * 100);
    return run.id;
  } finally {
    await store.close();
  }
}

/** `mldeploy ui --port 0` over `dataDir`, without a token (it listens on 127.0.0.1 only). */
function startUi(dataDir: string): Promise<ListeningProcess> {
  return startListening(["ui", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env: localRegistryEnv(dataDir),
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timeFetch(url: string): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const response = await fetch(url);
  const body = await response.arrayBuffer();
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return { ms: performance.now() - started, bytes: body.byteLength };
}

/** One round in a fresh context: page load to drawn chart, then the full-history click. */
async function round(
  browser: Browser,
  url: string,
): Promise<{ page: number; drawnAt: number; chartInPage: number; full: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    // In the page: when (ms since navigation start) uPlot drew the downsampled loss chart.
    // (A script's text: this file is type-checked without the DOM's types.)
    await page.addInitScript({
      content: `new MutationObserver((changes, observer) => {
        for (const change of changes) {
          const figure = change.target;
          if (figure.getAttribute("aria-label") === "loss by step" &&
              figure.getAttribute("data-drawn") === "1000") {
            window.drawnAt = performance.now();
            observer.disconnect();
          }
        }
      }).observe(document, { attributes: true, attributeFilter: ["data-drawn"], subtree: true });`,
    });
    const loss = page.locator('figure[aria-label="loss by step"]');
    const started = performance.now();
    await page.goto(url);
    await loss.and(page.locator('[data-drawn="1000"]')).waitFor({ timeout: 30_000 });
    const pageMs = performance.now() - started;
    if (process.env.MLDEPLOY_BENCH_DETAIL) {
      const entries = await page.evaluate(() =>
        performance
          .getEntriesByType("resource")
          .map(
            (e) =>
              `${e.name.replace(/^https?:\/\/[^/]+/, "")} ${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`,
          ),
      );
      console.log(`page ${pageMs.toFixed(0)} ms:`, entries);
    }
    const drawnAt = Number(await page.evaluate("window.drawnAt"));
    // The loss chart's request as the browser timed it (request start to last byte).
    const chartMs = await page.evaluate(
      () =>
        performance
          .getEntriesByType("resource")
          .find((entry) => entry.name.includes("/metrics/loss/chart"))?.duration ?? Number.NaN,
    );
    const clicked = performance.now();
    await page
      .getByRole("button", { name: `Load all ${STEPS.toLocaleString("en-US")} points` })
      .click();
    await page
      .locator(`figure[aria-label="loss by step"][data-drawn="${STEPS}"]`)
      .waitFor({ timeout: 60_000 });
    return { page: pageMs, drawnAt, chartInPage: chartMs, full: performance.now() - clicked };
  } finally {
    await context.close();
  }
}

const ms = (values: number[]) =>
  `${median(values).toFixed(0)} ms (slowest ${Math.max(...values).toFixed(0)} ms)`;
const verdict = (value: number) =>
  value < TARGET_MS ? `under the ${TARGET_MS} ms target` : `OVER the ${TARGET_MS} ms target`;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-ui-chart-"));
  let ui: ListeningProcess | undefined;
  let browser: Browser | undefined;
  try {
    const seeding = performance.now();
    const runId = await seed(dataDir);
    console.log(
      `seeded a run with ${STEPS.toLocaleString("en-US")} steps of loss in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
    );
    ui = await startUi(dataDir);
    browser = await launchSystemChromium();
    const api = `${ui.url}/api/v1/runs/${runId}/metrics/loss`;
    const pageUrl = `${ui.url}/#/runs/${runId}`;

    await timeFetch(`${api}/chart?maxPoints=1000`);
    await round(browser, pageUrl); // warm-up: the server's caches, Chromium's start
    const chartApi: number[] = [];
    const fullApi: number[] = [];
    const pages: number[] = [];
    const fulls: number[] = [];
    const chartsInPage: number[] = [];
    const drawnAts: number[] = [];
    let chartBytes = 0;
    let fullBytes = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const chart = await timeFetch(`${api}/chart?maxPoints=1000`);
      chartApi.push(chart.ms);
      chartBytes = chart.bytes;
      const full = await timeFetch(api);
      fullApi.push(full.ms);
      fullBytes = full.bytes;
      const times = await round(browser, pageUrl);
      pages.push(times.page);
      fulls.push(times.full);
      chartsInPage.push(times.chartInPage);
      drawnAts.push(times.drawnAt);
    }
    // The server's CPU per call, which the other loads of a shared machine do not inflate.
    const cpuPerCall = async (target: string, calls: number) => {
      const before = serverCpuSeconds(ui?.child.pid);
      for (let i = 0; i < calls; i++) await timeFetch(target);
      const after = serverCpuSeconds(ui?.child.pid);
      return before === undefined || after === undefined
        ? "n/a"
        : `${(((after - before) * 1000) / calls).toFixed(0)} ms`;
    };
    const chartCpu = await cpuPerCall(`${api}/chart?maxPoints=1000`, 20);
    const fullCpu = await cpuPerCall(api, 10);
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
    console.log(`medians of ${ROUNDS} rounds, metric of ${STEPS.toLocaleString("en-US")} steps:`);
    console.log(
      `  run page, navigation → chart drawn (1000 points): ${ms(pages)}: ${verdict(median(pages))}`,
    );
    console.log(`    drawn, by the page's own clock (since navigation start): ${ms(drawnAts)}`);
    console.log(`    of which the page's GET …/chart request: ${ms(chartsInPage)}`);
    console.log(
      `  API GET …/chart?maxPoints=1000 (LTTB), alone: ${ms(chartApi)}, ${kb(chartBytes)}, server CPU ${chartCpu} a call`,
    );
    console.log(
      `  "Load all" click → ${STEPS.toLocaleString("en-US")} points drawn: ${ms(fulls)}: ${verdict(median(fulls))}`,
    );
    console.log(
      `  API GET …/metrics/loss (every point): ${ms(fullApi)}, ${kb(fullBytes)}, server CPU ${fullCpu} a call`,
    );
  } finally {
    await browser?.close();
    await ui?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
