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
/** More runs than one page (50) holds, in their own experiment. */
const MANY = 60;
/** Enough runs for a count with a thousands separator; every tenth FINISHED, the rest RUNNING. */
const THOUSANDS = 1234;

interface Seeded {
  experimentId: string;
  manyId: string;
  thousandsId: string;
  /** Run ids of the ride-duration experiment by name. */
  ids: Record<string, string>;
}

async function seedRegistry(dataDir: string): Promise<Seeded> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("ride-duration");
    await store.createExperiment("churn");
    const many = await store.createExperiment("many-runs");
    const thousands = await store.createExperiment("thousands-of-runs");
    const ids: Record<string, string> = {};
    let start = Date.UTC(2026, 0, 1);
    for (const run of RUNS) {
      const created = await store.createRun({
        experimentId: experiment.id,
        name: run.name,
        startTime: (start += 60_000),
      });
      ids[run.name] = created.id;
      await store.logParams(created.id, { alpha: run.alpha });
      await store.logMetrics(created.id, [
        { key: "valid_rmse", value: run.rmse + 1, step: 0 },
        { key: "valid_rmse", value: run.rmse, step: 1 },
      ]);
      await store.endRun(created.id, "FINISHED", start + 42_000);
    }
    // Still running, nothing logged: shown with empty cells, sorted last either way.
    const running = await store.createRun({
      experimentId: experiment.id,
      name: "run-d",
      startTime: start + 1,
    });
    ids["run-d"] = running.id;
    for (let i = 0; i < MANY; i++) {
      // m-00 … m-59, started in order; loss grows with i.
      const run = await store.createRun({
        experimentId: many.id,
        name: `m-${String(i).padStart(2, "0")}`,
        startTime: Date.UTC(2026, 1, 1) + i * 1000,
      });
      await store.logMetrics(run.id, [{ key: "loss", value: i / 10 }]);
    }
    for (let i = 0; i < THOUSANDS; i++) {
      const run = await store.createRun({
        experimentId: thousands.id,
        name: `t-${String(i).padStart(4, "0")}`,
        startTime: Date.UTC(2026, 2, 1) + i * 1000,
      });
      if (i % 10 === 0) await store.endRun(run.id, "FINISHED");
    }
    return { experimentId: experiment.id, manyId: many.id, thousandsId: thousands.id, ids };
  } finally {
    await store.close();
  }
}

/** The text of one column of the runs table, top to bottom. */
async function column(page: Page, id: string): Promise<string[]> {
  return page.locator(`tbody [data-column="${id}"]`).allTextContents();
}

/** The run names of the table, top to bottom. */
async function runNames(page: Page): Promise<string[]> {
  return (await page.locator("tbody th").allTextContents()).map((text) => text.trim());
}

/** The pager's count of the runs that match (a live region). */
function runCount(page: Page) {
  return page.getByRole("navigation", { name: "Pages" }).getByRole("status");
}

/** The address's fragment, decoded. */
function fragment(page: Page): string {
  return decodeURIComponent(new URL(page.url()).hash);
}

/** The query of the address's fragment (`#/path?…`). */
function addressQuery(page: Page): URLSearchParams {
  return new URLSearchParams(new URL(page.url()).hash.split("?")[1] ?? "");
}

describe.skipIf(!haveChromium)("web UI in Debian's chromium (mldeploy ui)", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let seeded: Seeded;

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-");
    seeded = await seedRegistry(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const runsUrl = (query = "") =>
    `${server.url}/#/experiments/${seeded.experimentId}${query ? `?${query}` : ""}`;

  it("asks for the token, then lists the experiments with server-side run counts; the search filters and is in the URL", async () => {
    await page.goto(`${server.url}/`);
    await enterToken(page);
    const row = page.getByRole("row", { name: /ride-duration/ });
    await expect.poll(() => row.locator("td").nth(1).textContent()).toBe("4");
    expect(
      await page
        .getByRole("row", { name: /many-runs/ })
        .locator("td")
        .nth(1)
        .textContent(),
    ).toBe("60");
    expect(await page.getByRole("row", { name: /churn/ }).locator("td").nth(1).textContent()).toBe(
      "0",
    );
    expect(
      await page
        .getByRole("row", { name: /thousands-of-runs/ })
        .locator("td")
        .nth(1)
        .textContent(),
    ).toBe("1,234");
    expect(await page.getByRole("row").count()).toBe(5); // header + 4 experiments
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
    await expect.poll(() => runNames(page)).toEqual(["run-d", "run-c", "run-a", "run-b"]);
    expect(await page.locator("thead th").allTextContents()).toEqual([
      "Run",
      "Status",
      "Started",
      "Duration",
      "valid_rmse",
      "alpha",
    ]);
    expect(await column(page, "status")).toEqual(["RUNNING", "FINISHED", "FINISHED", "FINISHED"]);
    expect(await column(page, "duration")).toEqual(["—", "42.0 s", "42.0 s", "42.0 s"]);

    await page.getByRole("link", { name: "valid_rmse" }).click();
    await expect
      .poll(() => column(page, "metrics.valid_rmse"))
      .toEqual(["5.5", "6.25", "7.75", ""]);
    expect(await runNames(page)).toEqual(["run-a", "run-b", "run-c", "run-d"]);
    expect(page.url()).toContain("sort=metrics.valid_rmse&order=asc");

    // By keyboard this time: the header is a link, Enter follows it.
    await page.getByRole("link", { name: /valid_rmse/ }).focus();
    await page.keyboard.press("Enter");
    await expect
      .poll(() => column(page, "metrics.valid_rmse"))
      .toEqual(["7.75", "6.25", "5.5", ""]);
    expect(
      await page.locator('th[data-column="metrics.valid_rmse"]').getAttribute("aria-sort"),
    ).toBe("descending");
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("filters in MLflow's syntax (typed and applied with the keyboard) and by status, with the count of matching runs", async () => {
    await page.goto(runsUrl());
    await expect.poll(() => runNames(page)).toHaveLength(4);
    expect(await runCount(page).textContent()).toBe("Runs 1–4 of 4");
    await page.getByLabel("Filter (MLflow search syntax)").focus();
    await page.keyboard.type('metrics.valid_rmse < 7 and params.alpha != "1"');
    await page.keyboard.press("Enter");
    await expect.poll(() => runNames(page)).toEqual(["run-a", "run-b"]);
    expect(await runCount(page).textContent()).toBe("Runs 1–2 of 2");
    expect(addressQuery(page).get("q")).toBe('metrics.valid_rmse < 7 and params.alpha != "1"');

    await page.getByLabel("Filter (MLflow search syntax)").fill("metrics.valid_rmse > 100");
    await page.keyboard.press("Enter");
    await expect.poll(() => runCount(page).textContent()).toBe("No runs match this filter.");
    expect(await page.locator("tbody tr").count()).toBe(0);

    await page.getByLabel("Filter (MLflow search syntax)").fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => runNames(page)).toHaveLength(4);
    await page.getByLabel("Status").selectOption("RUNNING");
    await expect.poll(() => runNames(page)).toEqual(["run-d"]);
    expect(await runCount(page).textContent()).toBe("1 run");
    expect(page.url()).toContain("status=RUNNING");
    await page.getByLabel("Status").selectOption("");
    await expect.poll(() => runNames(page)).toHaveLength(4);
    expect(await runCount(page).textContent()).toBe("Runs 1–4 of 4");
  });

  it("shows a filter's syntax error with its position, marked under the filter text", async () => {
    // With a status too: the position still counts in what the user typed.
    await page.goto(runsUrl(`status=FINISHED&q=${encodeURIComponent("metrics.valid_rmse 5")}`));
    const alert = page.getByRole("alert");
    await expect
      .poll(() => alert.locator(".filter-message").textContent())
      .toBe(
        "Syntax error at position 20: expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN), found 5",
      );
    // The filter is shown again with the faulty character marked.
    expect(await page.locator(".filter-error mark").textContent()).toBe("5");
    expect(await page.locator(".filter-echo").textContent()).toBe("metrics.valid_rmse 5");
    expect(await page.locator("tbody tr").count()).toBe(0);
    // The filter stays in its box to be fixed.
    expect(await page.getByLabel("Filter (MLflow search syntax)").inputValue()).toBe(
      "metrics.valid_rmse 5",
    );
    expect(await seriousViolations(page)).toEqual([]);

    // An unfinished filter: the caret sits one past its end.
    await page.getByLabel("Filter (MLflow search syntax)").fill("params.alpha = '0' and");
    await page.keyboard.press("Enter");
    await expect.poll(() => alert.textContent()).toContain("Syntax error at position 23");
    expect(await alert.textContent()).toContain("found the end");
    expect(await page.locator(".filter-error mark").textContent()).toBe(" ");
  });

  it("pages through more runs than a page holds, sorted on the server", async () => {
    await page.goto(`${server.url}/#/experiments/${seeded.manyId}?sort=metrics.loss&order=desc`);
    await expect.poll(() => runNames(page)).toHaveLength(50);
    expect((await runNames(page)).slice(0, 2)).toEqual(["m-59", "m-58"]);
    expect(await runCount(page).textContent()).toBe("Runs 1–50 of 60 (page 1 of 2)");
    await page.getByRole("link", { name: "Next →" }).click();
    await expect.poll(() => runNames(page)).toHaveLength(10);
    expect(await runNames(page)).toEqual([
      "m-09",
      "m-08",
      "m-07",
      "m-06",
      "m-05",
      "m-04",
      "m-03",
      "m-02",
      "m-01",
      "m-00",
    ]);
    expect(page.url()).toContain("page=2");
    expect(await runCount(page).textContent()).toBe("Runs 51–60 of 60 (page 2 of 2)");
    expect(await page.getByRole("link", { name: "Next →" }).count()).toBe(0);
    await page.getByRole("link", { name: "← Previous" }).click();
    await expect.poll(() => runNames(page)).toHaveLength(50);
    await page.getByLabel("Runs per page").selectOption("100");
    await expect.poll(() => runNames(page)).toHaveLength(60);
    expect(await runCount(page).textContent()).toBe("Runs 1–60 of 60");
  });

  it("counts thousands of matching runs with separators, in one live region kept as the filter changes", async () => {
    await page.goto(`${server.url}/#/experiments/${seeded.thousandsId}`);
    await expect.poll(() => runNames(page)).toHaveLength(50);
    expect(await runCount(page).textContent()).toBe("Runs 1–50 of 1,234 (page 1 of 25)");
    // Marked, to tell below that the live region is the same element, not a new one: a screen
    // reader announces a live region's new text, not a region inserted with its text.
    await page.evaluate(
      `document.querySelector('nav[aria-label="Pages"] [role="status"]').dataset.probe = "kept"`,
    );
    const probe = () =>
      page.evaluate<string | undefined>(
        `document.querySelector('nav[aria-label="Pages"] [role="status"]')?.dataset.probe`,
      );

    await page.getByLabel("Filter (MLflow search syntax)").fill("run_name LIKE 't-1%'");
    await page.keyboard.press("Enter");
    await expect.poll(() => runCount(page).textContent()).toBe("Runs 1–50 of 234 (page 1 of 5)");
    expect(await probe()).toBe("kept");
    await page.getByLabel("Status").selectOption("FINISHED");
    // t-1000, t-1010 … t-1230.
    await expect.poll(() => runCount(page).textContent()).toBe("Runs 1–24 of 24");
    expect(await probe()).toBe("kept");
    await page.getByLabel("Filter (MLflow search syntax)").fill("run_name = 't-1001'");
    await page.keyboard.press("Enter");
    await expect.poll(() => runCount(page).textContent()).toBe("No runs match this filter.");
    expect(await probe()).toBe("kept");
    expect(await seriousViolations(page)).toEqual([]);

    await page.goto(`${server.url}/#/experiments/${seeded.thousandsId}?page=25`);
    await expect
      .poll(() => runCount(page).textContent())
      .toBe("Runs 1,201–1,234 of 1,234 (page 25 of 25)");
    expect(await runNames(page)).toHaveLength(34);
    // Past the last page (an old link): the count, and the way back.
    await page.goto(`${server.url}/#/experiments/${seeded.thousandsId}?page=30&size=100`);
    await expect
      .poll(() => runCount(page).textContent())
      .toBe("No runs on this page: 1,234 runs match.");
    await page.getByRole("link", { name: "Last page" }).click();
    await expect
      .poll(() => runCount(page).textContent())
      .toBe("Runs 1,201–1,234 of 1,234 (page 13 of 13)");
    expect(addressQuery(page).get("page")).toBe("13");
  });

  it("chooses columns, selects runs to compare, and restores all of it from the address", async () => {
    const { ids } = seeded;
    await page.goto(
      runsUrl("sort=metrics.valid_rmse&order=asc&q=" + encodeURIComponent("status = 'FINISHED'")),
    );
    await expect.poll(() => runNames(page)).toEqual(["run-a", "run-b", "run-c"]);

    await page.getByText(/^Columns/).click();
    await page.getByRole("checkbox", { name: "alpha" }).uncheck();
    await expect
      .poll(() => page.locator("thead th").allTextContents())
      .toEqual(["Run", "Status", "Started", "Duration", "valid_rmse ↑"]);
    expect(fragment(page)).toContain("cols=metrics.valid_rmse");

    await page.getByRole("checkbox", { name: "Select run-a" }).check();
    expect(await page.getByRole("link", { name: /^Compare/ }).count()).toBe(0);
    await page.getByRole("checkbox", { name: "Select run-c" }).check();
    const compare = page.getByRole("link", { name: "Compare 2 runs" });
    await expect
      .poll(() => compare.getAttribute("href"))
      .toBe(`#/compare?runs=${ids["run-a"]},${ids["run-c"]}`);
    expect(fragment(page)).toContain(`sel=${ids["run-a"]},${ids["run-c"]}`);

    await page.reload();
    await expect.poll(() => runNames(page)).toEqual(["run-a", "run-b", "run-c"]);
    expect(await page.locator("thead th").allTextContents()).toEqual([
      "Run",
      "Status",
      "Started",
      "Duration",
      "valid_rmse ↑",
    ]);
    expect(await page.getByLabel("Filter (MLflow search syntax)").inputValue()).toBe(
      "status = 'FINISHED'",
    );
    expect(await page.getByRole("checkbox", { name: "Select run-a" }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: "Select run-b" }).isChecked()).toBe(false);
    expect(await compare.getAttribute("href")).toBe(
      `#/compare?runs=${ids["run-a"]},${ids["run-c"]}`,
    );
    expect(await seriousViolations(page)).toEqual([]);

    // The run's name is a link to its page.
    await page.getByRole("link", { name: "run-b", exact: true }).click();
    expect(new URL(page.url()).hash).toBe(`#/runs/${ids["run-b"]}`);
  });

  it("reads well at 1280×800 too: no serious axe finding with a filter error and a selection", async () => {
    const wide = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await wide.goto(`${server.url}/`);
      await enterToken(wide);
      await expect.poll(() => wide.getByRole("row").count()).toBe(5);
      expect(await seriousViolations(wide)).toEqual([]);
      await wide.goto(runsUrl(`sel=${seeded.ids["run-a"]},${seeded.ids["run-b"]}`));
      await expect.poll(() => runNames(wide)).toHaveLength(4);
      await wide.getByText(/^Columns/).click();
      expect(await seriousViolations(wide)).toEqual([]);
      await wide.goto(runsUrl("q=" + encodeURIComponent("params.alpha > '1'")));
      await expect.poll(() => wide.getByRole("alert").textContent()).toContain("position 14");
      expect(await seriousViolations(wide)).toEqual([]);
    } finally {
      await wide.close();
    }
  });

  it("shows a not-found page for an unknown experiment", async () => {
    expect(seeded.experimentId).not.toBe("no-such-experiment");
    await page.goto(`${server.url}/#/experiments/no-such-experiment`);
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("Not found");
    expect(await page.locator("main").textContent()).toContain(
      "Experiment “no-such-experiment” does not exist in this registry",
    );
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
      // Read whole: an answer left unread stays in flight and holds the server's shutdown.
      expect((await script.text()).length).toBeGreaterThan(1000);
      expect((await fetch(`${server.url}/api/v1/experiments`)).status).toBe(200);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
