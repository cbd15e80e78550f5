import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { launchSystemChromium } from "./chromium.js";
import {
  CLI_PATH,
  localRegistryEnv,
  startListening,
  type ListeningProcess,
} from "./listening-process.js";
import { seedRegistry, type SeededRegistry } from "./ui-seed.js";

/**
 * `npm run ui:screenshots`: seeds a registry in a temp directory with real trained runs and
 * models, runs a real batch job over the generated trips three times (its runs fill the Batch jobs
 * page), starts a real `mldeploy serve models:/ride-duration@production` reporting to it (the
 * Deployments page lists it) and `mldeploy ui` over it, and saves a PNG of every page of the app
 * (the routes of src/ui/app/main.tsx) at desktop and phone size into screenshots/ (ignored by
 * git).
 *
 *   node dist/bench/ui-screenshots.js [--out <dir>] [--rows <trips a month>] [--steps <history length>]
 */
const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

/** One screenshot: a route of main.tsx in the state that tells the most about it. */
interface Shot {
  /** File name, without the size and extension. */
  name: string;
  /** The address's path and query (after the `#`). */
  address: string;
  /** What shows the page is complete (a CSS selector), if more than its heading. */
  ready?: string;
  /** Scrolled to the top of the viewport when the page's best part is below its facts. */
  scrollTo?: string;
}

/** Every route of main.tsx, with the seeded entities filled in. */
function shots(seeded: SeededRegistry): Shot[] {
  const [best, second] = seeded.runIds;
  const enc = encodeURIComponent;
  const runs = seeded.runIds.map(enc).join(",");
  const columns = ["metrics.valid_rmse", "metrics.train_rmse", "params.alpha"].join(",");
  const filter = enc("metrics.valid_rmse < 6 and status = 'FINISHED'");
  return [
    { name: "experiments", address: "/experiments" },
    {
      // Sorted by the metric that decides, filtered, a few columns, the two best selected.
      name: "runs",
      address:
        `/experiments/${enc(seeded.experimentId)}?q=${filter}&sort=metrics.valid_rmse` +
        `&order=asc&cols=${columns}&sel=${enc(best)},${enc(second)}`,
    },
    {
      // The learning curves, smoothed a little.
      name: "run",
      address: `/runs/${enc(best)}?metric=valid_rmse,train_rmse&smooth=0.3`,
      ready: "figure[data-drawn]",
      scrollTo: "#run-charts",
    },
    {
      name: "compare",
      address: `/compare?runs=${runs}&diff=1&metric=valid_rmse`,
      ready: "figure[data-drawn]",
      scrollTo: "#compare-history",
    },
    { name: "models", address: "/models" },
    { name: "model", address: `/models/${enc(seeded.modelName)}` },
    // The serve's first heartbeat reaches the registry when it starts listening.
    { name: "deployments", address: "/deployments", ready: 'tr[data-mode="serve"]' },
    { name: "batch", address: "/batch", ready: "figure[data-drawn]" },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: "screenshots" },
      rows: { type: "string", default: "20000" },
      steps: { type: "string", default: "300" },
    },
  });
  const rows = positiveInt(values.rows, "--rows");
  const steps = positiveInt(values.steps, "--steps");
  const out = path.resolve(values.out);
  mkdirSync(out, { recursive: true });

  const dataDir = mkdtempSync(path.join(tmpdir(), "mldeploy-screenshots-"));
  let ui: ListeningProcess | undefined;
  let serve: ListeningProcess | undefined;
  try {
    process.stderr.write(
      `seeding a registry in ${dataDir} (${rows} trips a month, ${steps} steps)\n`,
    );
    const seeded = await seedRegistry({ dataDir, rows, steps });
    // The batch job, the serve and the UI start together: each is its own process.
    [ui, serve] = await Promise.all([
      startUi(dataDir),
      startServe(dataDir, seeded.modelName),
      scoreTripsAsTheyArrive(dataDir, seeded.modelName),
    ]);
    process.stderr.write(`mldeploy ui at ${ui.url}, mldeploy serve at ${serve.url}\n`);
    const browser = await launchSystemChromium();
    try {
      for (const viewport of VIEWPORTS) {
        const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
        const page = await context.newPage();
        for (const shot of shots(seeded)) {
          await show(page, `${ui.url}/#${shot.address}`, shot);
          const file = path.join(out, `${shot.name}-${viewport.width}x${viewport.height}.png`);
          await page.screenshot({ path: file });
          process.stdout.write(`${file}\n`);
        }
        await context.close();
      }
    } finally {
      await browser.close();
    }
  } finally {
    await Promise.all([ui?.stop(), serve?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Opens a page and waits until it shows its main heading, what the shot needs (`ready`) and
 * nothing is loading any more; then scrolls to the shot's part. The heading and `ready` are
 * required; the rest is waited for within limits.
 */
async function show(page: Page, url: string, shot: Shot): Promise<void> {
  const { ready, scrollTo } = shot;
  // A fresh document per page: a fragment change alone would keep the previous page's state.
  await page.goto("about:blank");
  await page.goto(url);
  await page.getByRole("heading", { level: 1 }).first().waitFor({ timeout: 15_000 });
  if (ready !== undefined) {
    // Not there (no deployment listed, no chart drawn): a screenshot of it would show an empty
    // page as if it were the app's, so the script fails instead.
    await page
      .locator(ready)
      .first()
      .waitFor({ timeout: 15_000 })
      .catch(() => {
        throw new Error(`${url} shows no ${ready} within 15 s`);
      });
  }
  // Strings, not functions: they run in the page, and this module is compiled without DOM types.
  await page
    .waitForFunction('!document.querySelector("main")?.textContent?.includes("Loading…")', null, {
      timeout: 10_000,
    })
    .catch(() => undefined);
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => undefined);
  if (scrollTo !== undefined) {
    await page.evaluate(`document.querySelector(${JSON.stringify(scrollTo)})?.scrollIntoView()`);
  }
  // Charts draw on the next frames.
  await page.evaluate(
    "new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))",
  );
}

/** `mldeploy ui --port 0` over the seeded data, without a token (it listens on 127.0.0.1 only). */
function startUi(dataDir: string): Promise<ListeningProcess> {
  return startListening(["ui", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env: localRegistryEnv(dataDir),
  });
}

/**
 * `mldeploy serve models:/<model>@production` on a free port, reporting itself to the seeded
 * registry (a heartbeat a second) as a team's live deployment would.
 */
function startServe(dataDir: string, model: string): Promise<ListeningProcess> {
  return startListening(
    [
      "serve",
      `models:/${model}@production`,
      "--port",
      "0",
      "--workers",
      "1",
      "--heartbeat-interval-ms",
      "1000",
    ],
    { cwd: dataDir, env: localRegistryEnv(dataDir) },
  );
}

/**
 * A real `mldeploy batch` job scoring the generated trips with @production, run three times as
 * the rides arrive: January's first ten days, then all of January, then both months. Each run
 * scores only the rides after the job's watermark (their pickup time), so the rows differ from
 * run to run. Each run is recorded in the registry's "batch" experiment (the Batch jobs page).
 */
async function scoreTripsAsTheyArrive(dataDir: string, model: string): Promise<void> {
  const data = path.join(dataDir, "data");
  const arrivals = [
    { files: "green_tripdata_2021-01.parquet", where: "lpep_pickup_datetime < DATE '2021-01-11'" },
    { files: "green_tripdata_2021-01.parquet" },
    { files: "green_tripdata_2021-*.parquet" },
  ];
  for (const { files, where } of arrivals) {
    await runToEnd(
      [
        "batch",
        "--model",
        `models:/${model}@production`,
        "--source",
        path.join(data, files),
        "--query",
        where === undefined ? BATCH_QUERY : `${BATCH_QUERY}\nWHERE ${where}`,
        "--id-column",
        "ride_id",
        "--since-column",
        "lpep_pickup_datetime",
        "--keep-columns",
        "lpep_pickup_datetime,PULocationID,DOLocationID",
        "--actual-column",
        "actual_duration",
        "--sink",
        path.join(dataDir, "predictions.parquet"),
        "--job-name",
        "green-trips->predictions",
      ],
      dataDir,
    );
  }
}

/** The README's query shaping raw TLC files: a ride id from the month and row, the duration. */
const BATCH_QUERY = `SELECT replace(regexp_extract(filename, '(\\d{4}-\\d{2})\\.parquet', 1), '-', '/')
  || '_' || file_row_number AS ride_id,
  lpep_pickup_datetime, PULocationID, DOLocationID, trip_distance,
  epoch(lpep_dropoff_datetime - lpep_pickup_datetime) / 60 AS actual_duration
FROM source`;

/** Runs `mldeploy <args>` to its end; a failure ends the script with what it wrote. */
function runToEnd(args: string[], dataDir: string): Promise<void> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: dataDir,
    env: localRegistryEnv(dataDir),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`mldeploy ${args[0]} exited with ${code}: ${stderr}`)),
    );
  });
}

/** A mistake on the command line: its message is all the user needs. */
class UsageError extends Error {}

function positiveInt(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a whole number of at least 1, got "${text}"`);
  }
  return value;
}

main().catch((error: unknown) => {
  const shown =
    error instanceof UsageError ||
    (error as { code?: unknown }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
      ? (error as Error).message
      : ((error as Error).stack ?? String(error));
  process.stderr.write(`ui:screenshots failed: ${shown}\n`);
  process.exitCode = 1;
});
