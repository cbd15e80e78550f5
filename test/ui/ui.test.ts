import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/registry/store/open-store.js";
import { tempDir } from "../helpers/temp.js";
import { startServerProcess } from "../registry/server/server-process.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  UI_TOKEN as TOKEN,
  type UiServer,
} from "./browser.js";

/** Three runs with distinct valid_rmse, logged out of order so that sorting shows. */
const RUNS = [
  { name: "run-b", alpha: "0.5", rmse: 6.25 },
  { name: "run-a", alpha: "0", rmse: 5.5 },
  { name: "run-c", alpha: "1", rmse: 7.75 },
];

async function seedRegistry(dataDir: string): Promise<string> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("ride-duration");
    await store.createExperiment("churn");
    let start = Date.UTC(2026, 0, 1);
    for (const run of RUNS) {
      const created = await store.createRun({
        experimentId: experiment.id,
        name: run.name,
        startTime: (start += 60_000),
      });
      await store.logParams(created.id, { alpha: run.alpha });
      await store.logMetrics(created.id, [
        { key: "valid_rmse", value: run.rmse + 1, step: 0 },
        { key: "valid_rmse", value: run.rmse, step: 1 },
      ]);
      await store.endRun(created.id, "FINISHED", start + 42_000);
    }
    // Still running, nothing logged: shown with empty cells, sorted last either way.
    await store.createRun({ experimentId: experiment.id, name: "run-d", startTime: start + 1 });
    return experiment.id;
  } finally {
    await store.close();
  }
}

/** The text of one column of the runs table, top to bottom. */
async function column(page: Page, id: string): Promise<string[]> {
  return page.locator(`tbody [data-column="${id}"]`).allTextContents();
}

describe.skipIf(!haveChromium)("web UI in Debian's chromium (mldeploy ui)", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let experimentId: string;

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-");
    experimentId = await seedRegistry(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("asks for the token, then lists the experiments with run counts; the search filters and is in the URL", async () => {
    await page.goto(`${server.url}/`);
    await enterToken(page);
    const row = page.getByRole("row", { name: /ride-duration/ });
    await expect.poll(() => row.locator("td").nth(1).textContent()).toBe("4");
    await expect.poll(() => page.getByRole("row").count()).toBe(3); // header + 2 experiments
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel("Search by name").fill("ride");
    await expect.poll(() => page.getByRole("row").count()).toBe(2);
    expect(page.url()).toContain("#/experiments?q=ride");
    // The address alone restores the filtered list.
    await page.reload();
    await expect.poll(() => page.getByRole("row").count()).toBe(2);
    await expect.poll(() => page.getByLabel("Search by name").inputValue()).toBe("ride");
  });

  it("opens the experiment: its runs with valid_rmse and alpha as columns, sorted by a header click", async () => {
    await page.getByRole("link", { name: "ride-duration" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("ride-duration");
    expect(await page.locator("thead th").allTextContents()).toEqual([
      "Run",
      "Status",
      "Started",
      "Duration",
      "valid_rmse",
      "alpha",
    ]);
    // Newest first, as the API lists them.
    expect(await page.locator("tbody th").allTextContents()).toEqual([
      "run-d",
      "run-c",
      "run-a",
      "run-b",
    ]);
    expect(await column(page, "status")).toEqual(["RUNNING", "FINISHED", "FINISHED", "FINISHED"]);
    expect(await column(page, "duration")).toEqual(["—", "42.0 s", "42.0 s", "42.0 s"]);

    await page.getByRole("link", { name: "valid_rmse" }).click();
    await expect
      .poll(() => column(page, "metrics.valid_rmse"))
      .toEqual(["5.5", "6.25", "7.75", ""]);
    expect(await page.locator("tbody th").allTextContents()).toEqual([
      "run-a",
      "run-b",
      "run-c",
      "run-d",
    ]);
    expect(page.url()).toContain("sort=metrics.valid_rmse&order=asc");

    await page.getByRole("link", { name: /valid_rmse/ }).click();
    await expect
      .poll(() => column(page, "metrics.valid_rmse"))
      .toEqual(["7.75", "6.25", "5.5", ""]);
    expect(
      await page.locator('th[data-column="metrics.valid_rmse"]').getAttribute("aria-sort"),
    ).toBe("descending");
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("shows a not-found page for an unknown experiment", async () => {
    expect(experimentId).not.toBe("no-such-experiment");
    await page.goto(`${server.url}/#/experiments/no-such-experiment`);
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("Not found");
    expect(await page.locator("main").textContent()).toContain("does not exist in this registry");
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("serves the app for other paths, the API's JSON 404 under /api/, and the API only with the token", async () => {
    const spa = await fetch(`${server.url}/some/shared/link`);
    expect(spa.status).toBe(200);
    expect(await spa.text()).toContain('<div id="app">');
    const unknownApi = await fetch(`${server.url}/api/v1/nothing-here`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(unknownApi.status).toBe(404);
    expect(((await unknownApi.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    expect((await fetch(`${server.url}/api/v1/experiments`)).status).toBe(401);
    expect((await fetch(`${server.url}/api/v1/nothing-here`)).status).toBe(401);
  });
});

describe("mldeploy registry-server serves the web UI too", () => {
  it("answers / with the app and keeps its API and health check", async () => {
    const server = await startServerProcess(["--data-dir", tempDir("mldeploy-ui-registry-")]);
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      expect(await page.text()).toContain('<script type="module" src="/app.js">');
      const script = await fetch(`${server.url}/app.js`);
      expect(script.headers.get("content-type")).toContain("javascript");
      expect((await fetch(`${server.url}/api/v1/experiments`)).status).toBe(200);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
