import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../src/registry/registry.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  UI_TOKEN as TOKEN,
  type UiServer,
} from "./browser.js";

/** Three runs of one batch job, as `mldeploy batch` records them (src/batch/run.ts). */
const BATCH_RUNS = [
  { read: 1000, scored: 990, rejected: 10, status: "FINISHED" as const },
  { read: 400, scored: 396, rejected: 4, status: "FINISHED" as const },
  { read: 150, scored: 150, rejected: 0, status: "FAILED" as const },
];

async function seedRegistry(dataDir: string): Promise<void> {
  const registry = await Registry.open({ dataDir });
  try {
    const bundle = await rideBundlePath();
    for (let i = 0; i < 2; i++) {
      const run = await registry.startRun({ experiment: "rides" });
      await run.logModel(bundle, { register: "ride-duration" });
      await run.end();
    }
    await registry.setAlias("ride-duration", "production", 1);
    const batch = await registry.experiment("batch");
    let start = Date.UTC(2026, 11, 1, 6);
    for (const each of BATCH_RUNS) {
      const run = await registry.store.createRun({
        experimentId: batch.id,
        tags: { job: "rides->ride_predictions", model_version: "1" },
        startTime: (start += 3_600_000),
      });
      await registry.store.logMetrics(run.id, [
        { key: "rows_read", value: each.read },
        { key: "rows_scored", value: each.scored },
        { key: "rows_rejected", value: each.rejected },
        { key: "duration_s", value: 42 },
      ]);
      await registry.store.endRun(run.id, each.status, start + 42_000);
    }
  } finally {
    await registry.close();
  }
}

describe.skipIf(!haveChromium)("Deployments, try it and Batch jobs in Debian's chromium", () => {
  let dataDir: string;
  let server: UiServer;
  let serve: ServeProcess | undefined;
  let browser: Browser;
  let page: Page;

  /** The version cell of the (only) serve deployment listed. */
  const versionShown = () => page.locator('tr[data-mode="serve"] [data-version]').textContent();
  const axeAtBothSizes = async () => {
    for (const viewport of [
      { width: 390, height: 844 },
      { width: 1280, height: 800 },
    ]) {
      await page.setViewportSize(viewport);
      expect(await seriousViolations(page), `${viewport.width}×${viewport.height}`).toEqual([]);
    }
  };

  beforeAll(async () => {
    dataDir = tempDir("mldeploy-ui-deployments-");
    await seedRegistry(dataDir);
    server = await startUi(dataDir);
    serve = await startServeProcess(
      [
        "models:/ride-duration@production",
        "--port",
        "0",
        "--workers",
        "1",
        "--poll-interval-ms",
        "300",
        "--heartbeat-interval-ms",
        "500",
      ],
      { env: { MLDEPLOY_DATA_DIR: dataDir } },
    );
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);
  afterAll(async () => {
    serve?.kill("SIGKILL");
    await browser?.close();
    await server?.stop();
  });

  it("lists the running serve with version 1, then version 2 once @production moved, without a reload", async () => {
    await page.goto(`${server.url}/#/deployments`);
    await enterToken(page);
    await expect.poll(versionShown, { timeout: 15_000 }).toBe("1");
    const row = page.locator(`tr[data-mode="serve"]`, {
      has: page.locator('[data-column="endpoint"]', { hasText: serve!.url }),
    });
    expect(await row.locator('[data-column="endpoint"]').textContent()).toBe(serve!.url);
    expect(await row.locator('[data-column="model"]').textContent()).toContain(
      "models:/ride-duration@production",
    );
    expect(await row.locator("[data-lagging]").count()).toBe(0);
    await axeAtBothSizes();

    const stuck = await startServeProcess(
      ["models:/ride-duration@production", "--port", "0", "--workers", "1"].concat([
        "--poll-interval-ms",
        "0",
        "--heartbeat-interval-ms",
        "500",
      ]),
      { env: { MLDEPLOY_DATA_DIR: dataDir } },
    );
    const stuckRow = page.locator(`tr[data-mode="serve"]`, {
      has: page.locator('[data-column="endpoint"]', { hasText: stuck.url }),
    });
    await expect.poll(() => stuckRow.count(), { timeout: 15_000 }).toBe(1);

    const moved = await fetch(`${server.url}/api/v1/models/ride-duration/aliases/production`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ version: 2 }),
    });
    expect(moved.status).toBe(204);
    await expect
      .poll(() => row.locator("[data-version]").textContent(), { timeout: 15_000 })
      .toBe("2");
    expect(await row.locator("[data-lagging]").count()).toBe(0);
    await expect
      .poll(() => page.locator("[data-announcement]").textContent())
      .toContain("now runs version 2");
    // One that does not follow the alias (--poll-interval-ms 0) is marked as behind, in words.
    await expect
      .poll(() => stuckRow.locator("[data-lagging]").textContent(), { timeout: 15_000 })
      .toBe("behind @production, which is 2");
    expect(await stuckRow.locator("[data-version]").textContent()).toBe("1");
    await axeAtBothSizes();
    stuck.kill("SIGTERM");
    expect(await stuck.exited).toBe(0);
    await expect.poll(() => stuckRow.count(), { timeout: 15_000 }).toBe(0);
    expect(page.url()).toContain("#/deployments");
  });

  it("tries a prediction: the example of the version it runs, sent, and the predicted duration shown", async () => {
    await page.getByRole("link", { name: "try it: ride-duration" }).click();
    expect(page.url()).toContain("#/deployments?try=ride-duration");
    const body = page.getByLabel("Request body");
    await expect.poll(() => body.inputValue()).toContain("dataframe_split");
    expect(
      await page.getByLabel("Deployment", { exact: true }).locator("option").allTextContents(),
    ).toEqual([`${serve!.url} — version 2 (models:/ride-duration@production)`]);
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator("[data-answer]");
    await expect.poll(() => answer.getAttribute("data-status")).toBe("200");
    expect(await answer.locator("pre").textContent()).toMatch(/"duration": \d+(\.\d+)?/);
    await axeAtBothSizes();

    // Edited into a bad request: the serve's own error, naming the field.
    await body.fill(
      JSON.stringify({
        dataframe_split: {
          columns: ["PULocationID", "DOLocationID", "trip_distance"],
          data: [[10, 50, "far"]],
        },
      }),
    );
    await page.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => answer.getAttribute("data-status")).toBe("400");
    expect(await answer.textContent()).toContain("trip_distance");
    // Keyboard: the controls are reachable in order.
    await page.getByLabel("Deployment", { exact: true }).focus();
    await page.keyboard.press("Tab");
    expect(
      await page.getByLabel("Request body").evaluate((el) => el === el.ownerDocument.activeElement),
    ).toBe(true);
  });

  it("tries a service started with --auth-token: 401 and a hint without its token, the prediction with it", async () => {
    const serveToken = "serve-s3cret";
    const secured = await startServeProcess(
      ["models:/ride-duration@production", "--port", "0", "--workers", "1"].concat([
        "--heartbeat-interval-ms",
        "500",
      ]),
      { env: { MLDEPLOY_DATA_DIR: dataDir, MLDEPLOY_AUTH_TOKEN: serveToken } },
    );
    try {
      await page.goto(`${server.url}/#/deployments?try=ride-duration`);
      const deployment = page.getByLabel("Deployment", { exact: true });
      await expect
        .poll(() => deployment.locator("option").allTextContents(), { timeout: 15_000 })
        .toContain(`${secured.url} — version 2 (models:/ride-duration@production)`);
      await deployment.selectOption({
        label: `${secured.url} — version 2 (models:/ride-duration@production)`,
      });
      await expect
        .poll(() => page.getByLabel("Request body").inputValue())
        .toContain("dataframe_split");
      // The earlier test left its bad request in the form (an edited text is kept).
      await page.getByLabel("Request body").fill(
        JSON.stringify({
          dataframe_split: {
            columns: ["PULocationID", "DOLocationID", "trip_distance"],
            data: [[10, 50, 3.2]],
          },
        }),
      );
      const token = page.getByLabel("Service token");
      expect(await token.getAttribute("type")).toBe("password");
      expect(await token.inputValue()).toBe("");

      const answer = page.locator("[data-answer]");
      await page.getByRole("button", { name: "Send" }).click();
      await expect.poll(() => answer.getAttribute("data-status")).toBe("401");
      expect(await answer.locator("[data-token-hint]").textContent()).toContain(
        "This service requires a token",
      );
      await axeAtBothSizes();

      await token.fill(serveToken);
      await page.getByRole("button", { name: "Send" }).click();
      await expect.poll(() => answer.getAttribute("data-status")).toBe("200");
      expect(await answer.locator("pre").textContent()).toMatch(/"duration": \d+(\.\d+)?/);

      // Kept for this tab and this endpoint only: back after a reload, empty for the other serve.
      await page.reload();
      await deployment.selectOption({
        label: `${secured.url} — version 2 (models:/ride-duration@production)`,
      });
      expect(await token.inputValue()).toBe(serveToken);
      await deployment.selectOption({
        label: `${serve!.url} — version 2 (models:/ride-duration@production)`,
      });
      expect(await token.inputValue()).toBe("");
    } finally {
      secured.kill("SIGTERM");
      expect(await secured.exited).toBe(0);
    }
  });

  it("shows the batch job's runs with their rows and a chart over time", async () => {
    await page.goto(`${server.url}/#/batch`);
    await expect
      .poll(() => page.getByRole("heading", { level: 2 }).textContent())
      .toBe("rides->ride_predictions");
    const chart = page.getByRole("figure", { name: /Rows read, scored and rejected/ });
    expect(await chart.getAttribute("data-points")).toBe("3");
    expect(await chart.getAttribute("data-series")).toBe("3");
    expect(await page.locator('tbody [data-column="rows_read"]').allTextContents()).toEqual([
      "150",
      "400",
      "1000",
    ]);
    expect(await page.locator('tbody [data-column="status"]').allTextContents()).toEqual([
      "FAILED",
      "FINISHED",
      "FINISHED",
    ]);
    expect(await page.locator('tbody [data-column="duration"]').allTextContents()).toEqual([
      "42.0 s",
      "42.0 s",
      "42.0 s",
    ]);
    await axeAtBothSizes();
  });

  it("drops the serve once it stopped, and says how to start one", async () => {
    await page.goto(`${server.url}/#/deployments?try=ride-duration`);
    await expect.poll(versionShown, { timeout: 15_000 }).toBe("2");
    serve!.kill("SIGTERM");
    expect(await serve!.exited).toBe(0);
    serve = undefined;
    await expect.poll(() => page.locator("[data-empty]").count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator("[data-no-deployment]").textContent()).toContain(
      "mldeploy serve models:/ride-duration@production",
    );
    await axeAtBothSizes();
  });
});
