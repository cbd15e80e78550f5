import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { launchSystemChromium } from "../bench/chromium.js";
import { seedRegistry, type SeededRegistry } from "./screenshot-seed.js";

/**
 * `npm run ui:screenshots`: seeds a registry in a temp directory with real trained runs and
 * models, starts `mldeploy ui` over it and saves a PNG of every page of the app (the routes of
 * src/ui/app/main.tsx) at desktop and phone size into screenshots/ (ignored by git).
 *
 *   node dist/ui/screenshots.js [--out <dir>] [--rows <trips a month>] [--steps <history length>]
 */
const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

/** Every route of main.tsx, with the seeded entities filled in: [file name, address path]. */
function pages(seeded: SeededRegistry): [string, string][] {
  const [best, second] = seeded.runIds;
  const enc = encodeURIComponent;
  return [
    ["experiments", "/experiments"],
    ["runs", `/experiments/${enc(seeded.experimentId)}`],
    ["run", `/runs/${enc(best)}`],
    ["compare", `/compare?runs=${enc(best)},${enc(second)}`],
    ["models", "/models"],
    ["model", `/models/${enc(seeded.modelName)}`],
    ["deployments", "/deployments"],
    ["batch", "/batch"],
  ];
}

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "cli", "main.js");

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
  let ui: RunningUi | undefined;
  try {
    process.stderr.write(
      `seeding a registry in ${dataDir} (${rows} trips a month, ${steps} steps)\n`,
    );
    const seeded = await seedRegistry({ dataDir, rows, steps });
    ui = await startUi(dataDir);
    process.stderr.write(`mldeploy ui at ${ui.url}\n`);
    const browser = await launchSystemChromium();
    try {
      for (const viewport of VIEWPORTS) {
        const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
        const page = await context.newPage();
        for (const [name, address] of pages(seeded)) {
          await show(page, `${ui.url}/#${address}`);
          const file = path.join(out, `${name}-${viewport.width}x${viewport.height}.png`);
          await page.screenshot({ path: file });
          process.stdout.write(`${file}\n`);
        }
        await context.close();
      }
    } finally {
      await browser.close();
    }
  } finally {
    await ui?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Opens a page and waits until it shows its main heading and nothing is loading any more. Only
 * the heading is required (pages of the app differ); the rest is waited for within limits.
 */
async function show(page: Page, url: string): Promise<void> {
  // A fresh document per page: a fragment change alone would keep the previous page's state.
  await page.goto("about:blank");
  await page.goto(url);
  await page.getByRole("heading", { level: 1 }).first().waitFor({ timeout: 15_000 });
  // Strings, not functions: they run in the page, and this module is compiled without DOM types.
  await page
    .waitForFunction('!document.querySelector("main")?.textContent?.includes("Loading…")', null, {
      timeout: 10_000,
    })
    .catch(() => undefined);
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => undefined);
  // Charts draw on the next frames.
  await page.evaluate(
    "new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))",
  );
}

interface RunningUi {
  url: string;
  stop(): Promise<void>;
}

/** `mldeploy ui --port 0` over the seeded data, without a token (it listens on 127.0.0.1 only). */
async function startUi(dataDir: string): Promise<RunningUi> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MLDEPLOY_LOG_FORMAT: "json",
    MLDEPLOY_LOG_LEVEL: "info",
  };
  delete env.MLDEPLOY_REGISTRY_TOKEN;
  delete env.MLDEPLOY_REGISTRY_URL;
  delete env.MLDEPLOY_CONFIG;
  const child = spawn(process.execPath, [CLI, "ui", "--port", "0", "--data-dir", dataDir], {
    cwd: dataDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // However this script ends (an error, a closed pipe), the server does not outlive it.
  const killOnExit = () => child.kill("SIGTERM");
  process.on("exit", killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.on("close", () => {
      process.off("exit", killOnExit);
      resolve();
    }),
  );
  const url = await listeningUrl(child);
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`mldeploy ui logged no URL within 30 s: ${stderr}`));
    }, 30_000);
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`mldeploy ui exited with ${code}: ${stderr}`));
    });
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const match = /"url":"(http:[^"]+)"/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
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
