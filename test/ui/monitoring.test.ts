import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../src/registry/registry.js";
import type { MonitorResultRow } from "../../src/registry/store/types.js";
import { tempDir } from "../helpers/temp.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  type UiServer,
} from "./browser.js";

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 6, 8);
const MODEL = "ride-duration";

/**
 * The report of a window: its marker says which one opened; its script records the origin it
 * runs in and whether it could read the page's sessionStorage (where the token is), so the test
 * sees the sandbox at work.
 */
const reportHtml = (marker: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring report</title></head>
<body><h1 id="marker">${marker}</h1><p id="origin"></p><p id="storage"></p>
<script>
document.getElementById("origin").textContent = "origin " + String(window.origin);
try { sessionStorage.getItem("x"); document.getElementById("storage").textContent = "storage readable"; }
catch (e) { document.getElementById("storage").textContent = "storage blocked"; }
</script></body></html>`;

/** result.json as `mldeploy monitor` writes it: only what the page reads of it is here. */
const resultJson = {
  format: 1,
  model: MODEL,
  versions: [
    {
      version: "2",
      columns: [
        {
          name: "trip_distance",
          drift: {
            status: "ok",
            method: "wasserstein",
            score: 0.31,
            scoreKind: "distance",
            threshold: 0.1,
            drifted: true,
          },
        },
        {
          name: "PU_DO",
          drift: {
            status: "ok",
            method: "jensenshannon",
            score: 0.0123,
            scoreKind: "distance",
            threshold: 0.1,
            drifted: false,
          },
        },
      ],
    },
  ],
};

interface Seeded {
  latestRun: string;
  oldRun: string;
}

/** v2 of ride-duration monitored over 4 hourly windows (drifting, RMSE rising), v1 over one. */
async function seed(dataDir: string): Promise<Seeded> {
  const registry = await Registry.open({ dataDir });
  try {
    const { store } = registry;
    await store.createModelVersion({ name: MODEL, source: "/models/ride-duration/1" });
    await store.createModelVersion({ name: MODEL, source: "/models/ride-duration/2" });
    await store.setAlias(MODEL, "production", 2);
    await store.createModelVersion({ name: "churn", source: "/models/churn/1" });

    const files = tempDir("mldeploy-ui-monitor-files-");
    const runs: string[] = [];
    for (const [i, marker] of ["REPORT window 4", "REPORT window 2"].entries()) {
      const run = await registry.startRun({ experiment: "monitoring", name: `monitor-${i}` });
      const report = path.join(files, `report-${i}.html`);
      await writeFile(report, reportHtml(marker));
      await run.logArtifact(report, "report.html");
      if (i === 0) {
        const result = path.join(files, "result.json");
        await writeFile(result, JSON.stringify(resultJson));
        await run.logArtifact(result, "result.json");
      }
      await run.end();
      runs.push(run.id);
    }
    const [latestRun, oldRun] = runs;

    const rows: MonitorResultRow[] = [];
    const put = (
      version: string,
      hour: number,
      runId: string | null,
      metrics: Record<string, number | null>,
      columns: Record<string, Record<string, number>> = {},
    ) => {
      const at = {
        model: MODEL,
        version,
        windowStart: T0 + hour * HOUR,
        windowEnd: T0 + (hour + 1) * HOUR,
        runId,
      };
      for (const [metric, value] of Object.entries(metrics))
        rows.push({ ...at, metric, column: "", value });
      for (const [column, values] of Object.entries(columns)) {
        for (const [metric, value] of Object.entries(values))
          rows.push({ ...at, metric, column, value });
      }
    };
    const drift = [0, 0.25, 0.5, 0.75];
    const rmse = [5.1, 5.5, 6.4, 7.25];
    for (let h = 0; h < 4; h++) {
      put(
        "2",
        h,
        h === 3 ? latestRun : h === 1 ? oldRun : null,
        {
          rows: 1000 + h,
          drift_share: drift[h],
          dataset_drift: drift[h] >= 0.5 ? 1 : 0,
          rmse: rmse[h],
          mae: rmse[h] - 1,
          bias: h === 3 ? 1.625 : 0.1,
          matched: 900 + h,
          training_rmse: 5,
          regressed: rmse[h] > 6 ? 1 : 0,
        },
        h === 3
          ? {
              trip_distance: { drift_score: 0.31, drifted: 1, missing_share: 0.02 },
              PU_DO: {
                drift_score: 0.0123,
                drifted: 0,
                missing_share: 0,
                new_category_share: 0.125,
              },
            }
          : { trip_distance: { drift_score: 0.01 * h, drifted: 0, missing_share: 0 } },
      );
    }
    put("1", 0, null, { rows: 40, drift_share: 0, dataset_drift: 0, rmse: null });
    await store.putMonitorResults(rows);
    return { latestRun, oldRun };
  } finally {
    await registry.close();
  }
}

describe.skipIf(!haveChromium)(
  "a model's Monitoring section in Debian's chromium (mldeploy ui)",
  () => {
    let server: UiServer;
    let browser: Browser;
    let page: Page;
    let seeded: Seeded;
    const section = () => page.locator("section", { has: page.locator("#monitoring-heading") });
    const fact = (name: string) => section().locator(`[data-fact="${name}"] dd`);
    const cell = (column: string, name: string) =>
      section().locator(`tr[data-column="${column}"] [data-cell="${name}"]`);

    async function axeAtBothSizes(): Promise<void> {
      for (const size of [PHONE, DESKTOP]) {
        await page.setViewportSize(size);
        expect(await seriousViolations(page), `${size.width}×${size.height}`).toEqual([]);
      }
      await page.setViewportSize(PHONE);
    }

    beforeAll(async () => {
      const dataDir = tempDir("mldeploy-ui-monitoring-");
      seeded = await seed(dataDir);
      server = await startUi(dataDir);
      browser = await launchChromium();
      page = await browser.newPage({ viewport: PHONE });
      await page.goto(`${server.url}/#/models`);
      await enterToken(page);
      await page.getByRole("link", { name: "churn" }).waitFor();
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it("tells how to monitor a model that has no results yet", async () => {
      await page.goto(`${server.url}/#/models/churn`);
      await expect
        .poll(() => section().textContent())
        .toContain("mldeploy monitor --model models:/churn@production");
      expect(await section().textContent()).toContain("No monitoring results for this model yet");
      await axeAtBothSizes();
    });

    it("shows the latest window of the newest version with the numbers from the store", async () => {
      await page.goto(`${server.url}/#/models/${MODEL}`);
      await expect
        .poll(() => fact("dataset-drift").textContent())
        .toBe("yes (75.0% of columns drifted)");
      expect(await section().getByRole("heading", { level: 3 }).first().textContent()).toMatch(
        /^Version 2: latest window /,
      );
      expect(await fact("rows").textContent()).toBe("1003");
      expect(await fact("rmse").textContent()).toBe("7.25 (training 5, regressed)");
      expect(await fact("mae").textContent()).toBe("6.25");
      expect(await fact("bias").textContent()).toBe("1.625");
      expect(await fact("matched").textContent()).toBe("903");
      // Method and threshold come from the run's result.json, the rest from the results table.
      await expect
        .poll(() => cell("trip_distance", "method").textContent())
        .toBe("wasserstein (distance)");
      expect(await cell("trip_distance", "score").textContent()).toBe("0.31");
      expect(await cell("trip_distance", "threshold").textContent()).toBe("0.1");
      expect(await cell("trip_distance", "drifted").textContent()).toBe("✓ yes");
      expect(await cell("trip_distance", "missing").textContent()).toBe("2.0%");
      expect(await cell("trip_distance", "new-categories").textContent()).toBe("—");
      expect(await cell("PU_DO", "drifted").textContent()).toBe("✗ no");
      expect(await cell("PU_DO", "score").textContent()).toBe("0.0123");
      expect(await cell("PU_DO", "new-categories").textContent()).toBe("12.5%");

      const driftChart = section().getByRole("figure", { name: /Share of drifted columns over 4/ });
      const rmseChart = section().getByRole("figure", { name: /RMSE over 4 windows/ });
      await expect.poll(() => driftChart.getAttribute("data-drawn")).toBe("4");
      await expect.poll(() => rmseChart.getAttribute("data-drawn")).toBe("4");
      expect(await rmseChart.getAttribute("data-series")).toBe("2");

      const windows = section().locator("table.monitor-windows tbody tr");
      expect(await windows.count()).toBe(4);
      expect(await windows.first().locator("td").allTextContents()).toEqual([
        "1003",
        "75.0%",
        "yes",
        "7.25",
        "Open report",
      ]);
      // Only windows whose rows name a run have a report.
      expect(await windows.getByRole("link", { name: /Open report/ }).count()).toBe(2);
      await axeAtBothSizes();
      // Phone layout: nothing wider than the screen but the scrollable tables (the charts follow
      // a resize through a ResizeObserver, a frame or two later: hence the poll).
      await expect
        .poll(() =>
          page.evaluate<number>(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth",
          ),
        )
        .toBeLessThanOrEqual(0);
    });

    it("opens a window's report from the keyboard, sandboxed, and keeps it in the URL", async () => {
      await page.goto(`${server.url}/#/models/${MODEL}`);
      const link = section()
        .locator(`tr[data-window-start="${T0 + HOUR}"]`)
        .getByRole("link", { name: /Open report/ });
      await link.focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.url()).toContain(`report=${seeded.oldRun}`);
      const frame = page.frameLocator("iframe.monitor-report-frame");
      await expect.poll(() => frame.locator("#marker").textContent()).toBe("REPORT window 2");
      // Its script ran, in an opaque origin that cannot read this page's token.
      await expect.poll(() => frame.locator("#origin").textContent()).toBe("origin null");
      expect(await frame.locator("#storage").textContent()).toBe("storage blocked");
      expect(await page.locator("iframe.monitor-report-frame").getAttribute("sandbox")).toBe(
        "allow-scripts",
      );
      expect(await page.evaluate<string | undefined>("document.activeElement?.id")).toBe(
        "monitor-report-title",
      );

      // The latest window's report, after a reload straight from the URL.
      await page.goto(`${server.url}/#/models/${MODEL}?report=${seeded.latestRun}`);
      await expect.poll(() => frame.locator("#marker").textContent()).toBe("REPORT window 4");
      await axeAtBothSizes();
      await section().getByRole("link", { name: "Close report" }).click();
      await expect.poll(() => page.locator("iframe.monitor-report-frame").count()).toBe(0);
      expect(page.url()).not.toContain("report=");
    });

    it("switches versions through the URL; a version without actuals says so", async () => {
      await page.goto(`${server.url}/#/models/${MODEL}`);
      await section().getByRole("link", { name: "v1" }).click();
      await expect.poll(() => page.url()).toContain("mversion=1");
      await expect
        .poll(() => section().getByRole("heading", { level: 3 }).first().textContent())
        .toMatch(/^Version 1: latest window /);
      expect(await fact("rows").textContent()).toBe("40");
      expect(await fact("rmse").textContent()).toBe("— (training —)");
      expect(await section().textContent()).toContain("No actuals joined yet");
      expect(await section().getByRole("link", { name: "v1" }).getAttribute("aria-current")).toBe(
        "true",
      );
      await page.reload();
      await expect.poll(() => fact("rows").textContent()).toBe("40");
    });
  },
);
