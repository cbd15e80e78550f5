import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedRegistry, type SeededRegistry } from "../../src/bench/ui-seed.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";
import { enterToken, haveChromium, launchChromium, startUi, type UiServer } from "./browser.js";

/** Points of each run's metric history: steps 0 … STEPS-1 of the learning curve, then the final. */
const STEPS = 20;
/** Every wait of the journey is bounded by this (a step that does not happen fails the test). */
const WAIT_MS = 15_000;

/**
 * The end-to-end journey, driven through the pages in Debian's chromium: a registry
 * whose runs were really trained by mldeploy (four ridge models on generated rides, their
 * bundles logged as artifacts), the second best registered as ride-duration version 1 with
 * @production on it, and a real `mldeploy serve models:/ride-duration@production` reporting to
 * it. The user finds the best run, registers it, promotes it and watches the serve follow.
 */
describe.skipIf(!haveChromium)("the whole journey in Debian's chromium (mldeploy ui)", () => {
  let seeded: SeededRegistry;
  let server: UiServer | undefined;
  let serve: ServeProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-journey-");
    seeded = await seedRegistry({ dataDir, rows: 2000, steps: STEPS, register: "second-best" });
    [server, serve, browser] = await Promise.all([
      startUi(dataDir),
      startServeProcess(
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
        { env: { MLDEPLOY_DATA_DIR: dataDir }, timeoutMs: 30_000 },
      ),
      launchChromium(),
    ]);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
  }, 60_000);
  afterAll(async () => {
    // The serve is stopped however the journey ended (and never outlives the test file).
    serve?.kill("SIGKILL");
    await browser?.close();
    await server?.stop();
  });

  const runNames = async () =>
    (await page.locator("tbody th").allTextContents()).map((name) => name.trim());
  const validRmse = async () =>
    (await page.locator('tbody [data-column="metrics.valid_rmse"]').allTextContents()).map(Number);

  it("sorts, filters, charts, compares, registers the best run, promotes it, sees the serve swap and tries it", async () => {
    const [best, second] = seeded.runIds;

    // 1. The experiment, from the experiments list.
    await page.goto(`${server!.url}/#/experiments`);
    await enterToken(page);
    await page.getByRole("link", { name: "nyc-taxi" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: WAIT_MS })
      .toBe("nyc-taxi");
    await expect.poll(runNames, { timeout: WAIT_MS }).toHaveLength(4);

    // 2. Sorted by valid_rmse (a header click): ascending, the best run first.
    await page.getByRole("link", { name: "valid_rmse" }).click();
    await expect
      .poll(() => page.locator('th[data-column="metrics.valid_rmse"]').getAttribute("aria-sort"), {
        timeout: WAIT_MS,
      })
      .toBe("ascending");
    expect(page.url()).toContain("sort=metrics.valid_rmse&order=asc");
    const sorted = await validRmse();
    expect(sorted).toHaveLength(4);
    expect(sorted.every((value) => Number.isFinite(value) && value > 0)).toBe(true);
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b));
    const names = await runNames();
    expect(names.slice().sort()).toEqual([
      "ridge-alpha-0",
      "ridge-alpha-1",
      "ridge-alpha-10",
      "ridge-alpha-100",
    ]);
    expect(await page.getByRole("link", { name: names[0], exact: true }).getAttribute("href")).toBe(
      `#/runs/${best}`,
    );

    // 3. Filtered in MLflow's syntax: the strongest regularisation left out, the order kept.
    const filter = 'params.alpha != "100" and metrics.valid_rmse > 0';
    await page.getByLabel("Filter (MLflow search syntax)").fill(filter);
    await page.getByRole("button", { name: "Apply" }).click();
    const kept = names.filter((name) => name !== "ridge-alpha-100");
    await expect.poll(runNames, { timeout: WAIT_MS }).toEqual(kept);
    expect(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("q")).toBe(filter);

    // 4. The best run, and its valid_rmse history: every step of the curve plus the final value.
    await page.getByRole("link", { name: kept[0], exact: true }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: WAIT_MS })
      .toBe(kept[0]);
    expect(new URL(page.url()).hash).toBe(`#/runs/${best}`);
    const chart = page.getByRole("figure", { name: "valid_rmse by step" });
    await expect
      .poll(() => chart.getAttribute("data-points"), { timeout: WAIT_MS })
      .toBe(String(STEPS + 1));
    expect(await page.getByRole("region", { name: "valid_rmse" }).textContent()).toContain(
      `All ${STEPS + 1} points.`,
    );

    // 5. Back to the filtered runs; the two best selected and compared.
    await page.goBack();
    await expect.poll(runNames, { timeout: WAIT_MS }).toEqual(kept);
    expect(await page.getByLabel("Filter (MLflow search syntax)").inputValue()).toBe(filter);
    await page.getByRole("checkbox", { name: `Select ${kept[0]}`, exact: true }).check();
    await page.getByRole("checkbox", { name: `Select ${kept[1]}`, exact: true }).check();
    await page.getByRole("link", { name: "Compare 2 runs" }).click();
    const compared = page.locator("table.compare-runs tbody tr th");
    await expect
      .poll(() => compared.allTextContents(), { timeout: WAIT_MS })
      .toEqual(kept.slice(0, 2));
    expect(new URL(page.url()).hash).toBe(`#/compare?runs=${best},${second}`);
    const alpha = page.locator('table[data-table="compare-params"] tr[data-key="alpha"]');
    expect(await alpha.locator("th").textContent()).toBe("≠ values differ: alpha");

    // 6. The best run's artifacts: its model bundle, registered as a new version of ride-duration.
    await page.getByRole("link", { name: kept[0], exact: true }).click();
    const artifacts = page.getByRole("region", { name: "Artifacts" });
    const files = artifacts.getByRole("list", { name: "Artifact files" });
    await files.getByRole("button", { name: "model/" }).waitFor();
    const model = page.getByRole("region", { name: "Model in model/" });
    await model.waitFor();
    expect(await model.getByLabel("Input example").textContent()).toContain("trip_distance");
    await model.getByLabel("Model name (new or existing)").fill("ride-duration");
    await model.getByRole("button", { name: "Register as a new version" }).click();
    const registered = model.getByRole("status");
    await expect
      .poll(() => registered.textContent(), { timeout: WAIT_MS })
      .toBe("Registered ride-duration version 2");

    // The Deployments page in a second tab, open before the alias moves: the serve runs v1.
    const deployments = await context.newPage();
    deployments.setDefaultTimeout(WAIT_MS);
    await deployments.goto(`${server!.url}/#/deployments`);
    await enterToken(deployments);
    const row = deployments.locator('tr[data-mode="serve"]', {
      has: deployments.locator('[data-column="endpoint"]', { hasText: serve!.url }),
    });
    await expect
      .poll(() => row.locator("[data-version]").textContent(), { timeout: WAIT_MS })
      .toBe("1");
    expect(await row.locator('[data-column="model"]').textContent()).toContain(
      "models:/ride-duration@production",
    );

    // 7. The model page (from the link the registration shows): @production moved to v2 after
    // a confirmation naming both versions.
    await registered.getByRole("link").click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: WAIT_MS })
      .toBe("ride-duration");
    const versionRows = page.locator("table.versions tbody tr th");
    await expect
      .poll(() => versionRows.allTextContents(), { timeout: WAIT_MS })
      .toEqual(["v2", "v1"]);
    expect(
      await page
        .locator('tr[data-version="2"]')
        .getByRole("link", { name: kept[0] })
        .getAttribute("href"),
    ).toBe(`#/runs/${best}`);
    await page.getByLabel("Alias", { exact: true }).fill("production");
    await page.getByLabel("Version", { exact: true }).selectOption("2");
    await page.getByRole("button", { name: "Move alias…" }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.getByTestId("alias-change").textContent()).toBe(
      "@production: version 1 → version 2",
    );
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await dialog.waitFor({ state: "detached" });
    await expect
      .poll(() => page.getByRole("status").first().textContent(), { timeout: WAIT_MS })
      .toBe("@production now points at version 2.");

    // 8. The running serve follows the alias: the Deployments tab shows it, without a reload.
    await expect
      .poll(() => row.locator("[data-version]").textContent(), { timeout: WAIT_MS })
      .toBe("2");
    expect(await row.locator("[data-lagging]").count()).toBe(0);
    await expect
      .poll(() => deployments.locator("[data-announcement]").textContent(), { timeout: WAIT_MS })
      .toContain("now runs version 2");
    expect(deployments.url()).toBe(`${server!.url}/#/deployments`);
    await deployments.close();

    // 9. Try it, on the model page: v2's input example sent to the serve, a duration shown.
    const target = page.getByLabel("Deployment", { exact: true }).locator("option");
    await expect
      .poll(() => target.allTextContents(), { timeout: WAIT_MS })
      .toEqual([`${serve!.url} — version 2 (models:/ride-duration@production)`]);
    const body = page.getByLabel("Request body");
    await expect.poll(() => body.inputValue(), { timeout: WAIT_MS }).toContain("dataframe_split");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator("[data-answer]");
    await expect.poll(() => answer.getAttribute("data-status"), { timeout: WAIT_MS }).toBe("200");
    expect(await answer.locator("pre").textContent()).toMatch(/"duration": \d+(\.\d+)?/);
  }, 90_000);
});
