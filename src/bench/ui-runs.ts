/**
 * `npm run bench:ui-runs`
 *
 * The Runs page with 10,000 runs (issue 20's targets: the page renders in under 1 s in headless
 * Chromium; the API answers a page of runs in under 50 ms). Seeds one experiment of 10,000 runs
 * (3 params, 3 metrics each) in a temporary data directory, starts the real `mldeploy ui` over
 * it, then measures:
 * - the API: POST /api/v1/runs/search for one page (as the page asks for it), and the two other
 *   calls the page makes (GET /experiments/{id}, GET /experiments/{id}/keys), over HTTP from this
 *   process; the median and slowest of 20 calls after 3 warm-ups;
 * - the page: from navigation start to the table showing its rows (a full page load each time,
 *   the page's own clock), and from a click on a metric's header to the re-sorted rows; the
 *   median and slowest of 7 repetitions after one warm-up.
 * It prints the figures and whether each target is met; it asserts nothing.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { localRegistryEnv, startListening, type ListeningProcess } from "./listening-process.js";
import { launchSystemChromium } from "./chromium.js";
import { serverCpuSeconds } from "./process-cpu.js";
import { RUNS, seedSqlite } from "./seed-runs.js";

const PAGE_SIZE = 100;
const API_TARGET_MS = 50;
const PAGE_TARGET_MS = 1000;

/** `mldeploy ui --port 0` over `dataDir`, without a token (it listens on 127.0.0.1 only). */
function startUi(dataDir: string): Promise<ListeningProcess> {
  return startListening(["ui", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env: localRegistryEnv(dataDir),
  });
}

function stats(times: number[]): { median: number; slowest: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], slowest: sorted[sorted.length - 1] };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

function row(what: string, times: number[], target: number, cpuMs?: number): boolean {
  const { median, slowest } = stats(times);
  const met = median < target;
  const cpu = cpuMs === undefined ? "" : ` ${ms(cpuMs)} |`;
  console.log(
    `| ${what} | ${ms(median)} | ${ms(slowest)} |${cpu} < ${target} ms: ${met ? "met" : "NOT met"} |`,
  );
  return met;
}

/**
 * Wall times of 20 calls after 3 warm-ups, and the server's CPU time per call: on a shared
 * machine the wall time includes waiting for a core, the CPU time does not.
 */
async function timeCalls(
  pid: number | undefined,
  call: () => Promise<Response>,
): Promise<{ times: number[]; cpuMs: number | undefined }> {
  for (let i = 0; i < 3; i++) await (await call()).arrayBuffer();
  const times: number[] = [];
  const cpu0 = serverCpuSeconds(pid);
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const response = await call();
    await response.arrayBuffer();
    times.push(performance.now() - t0);
    if (!response.ok) throw new Error(`the API answered ${response.status}`);
  }
  const cpu1 = serverCpuSeconds(pid);
  const cpuMs = cpu0 === undefined || cpu1 === undefined ? undefined : ((cpu1 - cpu0) * 1000) / 20;
  return { times, cpuMs };
}

async function benchApi(url: string, pid: number | undefined, experimentId: string): Promise<void> {
  const search = (body: object) => () =>
    fetch(`${url}/api/v1/runs/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      // As the page asks: with the count of the runs that match.
      body: JSON.stringify({
        experimentIds: [experimentId],
        maxResults: PAGE_SIZE,
        includeTotal: true,
        ...body,
      }),
    });
  console.log(
    "| API call (HTTP, this process → mldeploy ui) | median | slowest | server CPU per call | target (median) |",
  );
  console.log("|---|---|---|---|---|");
  const measure = async (what: string, call: () => Promise<Response>) => {
    const { times, cpuMs } = await timeCalls(pid, call);
    row(what, times, API_TARGET_MS, cpuMs);
  };
  await measure("runs/search: a page, newest first", search({}));
  await measure(
    "runs/search: a page sorted by metrics.valid_rmse",
    search({ orderBy: ["metrics.`valid_rmse` ASC"] }),
  );
  await measure(
    'runs/search: status = FINISHED and metrics.valid_rmse < 5.5 and params.alpha = "0", sorted by params.depth',
    search({
      filter: `attributes.status = 'FINISHED' and metrics.valid_rmse < 5.5 and params.alpha = "0"`,
      orderBy: ["params.`depth` DESC"],
    }),
  );
  await measure(
    "runs/search: the last page, sorted by metrics.r2 DESC",
    search({
      orderBy: ["metrics.`r2` DESC"],
      pageToken: Buffer.from(JSON.stringify({ offset: RUNS - PAGE_SIZE })).toString("base64"),
    }),
  );
  await measure("experiments/{id}/keys", () =>
    fetch(`${url}/api/v1/experiments/${experimentId}/keys`),
  );
  await measure("experiment-summaries", () => fetch(`${url}/api/v1/experiment-summaries`));
}

async function benchPage(url: string, experimentId: string): Promise<void> {
  const browser = await launchSystemChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const address = `${url}/#/experiments/${experimentId}?size=${PAGE_SIZE}`;
    // Strings: they run in the page, and this file is compiled without the DOM's types.
    const rowsShown = `document.querySelectorAll("table.runs tbody tr").length >= ${PAGE_SIZE}`;
    const resorted =
      `document.querySelector('th[data-column="metrics.valid_rmse"]')` +
      `?.getAttribute("aria-sort") === "ascending" && ${rowsShown}`;
    const wait = { polling: "raf", timeout: 30_000 } as const;
    const loads: number[] = [];
    const sorts: number[] = [];
    for (let i = 0; i < 8; i++) {
      await page.goto("about:blank");
      await page.goto(address);
      await page.waitForFunction(rowsShown, undefined, wait);
      // Milliseconds since this document's navigation started, on the page's own clock.
      const loaded = await page.evaluate(() => performance.now());
      const header = page.locator('th[data-column="metrics.valid_rmse"] a');
      const t0 = performance.now();
      await header.click();
      await page.waitForFunction(resorted, undefined, wait);
      const sorted = performance.now() - t0;
      // The first round warms the browser's cache and the server's statements.
      if (i > 0) {
        loads.push(loaded);
        sorts.push(sorted);
      }
    }
    console.log(
      `\n| the Runs page in headless Chromium (${PAGE_SIZE} rows shown) | median | slowest | target (median) |`,
    );
    console.log("|---|---|---|---|");
    row("navigation start → table rows shown", loads, PAGE_TARGET_MS);
    row("click on the valid_rmse header → re-sorted rows shown", sorts, PAGE_TARGET_MS);
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-ui-runs-"));
  let ui: ListeningProcess | undefined;
  try {
    const experimentId = await seedSqlite(
      path.join(dir, "registry.db"),
      path.join(dir, "artifacts"),
      "bench-10k",
    );
    ui = await startUi(dir);
    console.log(
      `${RUNS} runs × 3 params × 3 metrics in one experiment (SQLite), mldeploy ui at ${ui.url}; ` +
        `pages of ${PAGE_SIZE} runs\n`,
    );
    await benchApi(ui.url, ui.child.pid, experimentId);
    await benchPage(ui.url, experimentId);
  } finally {
    await ui?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
