import axe from "axe-core";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, launchChromium } from "../../ui/browser.js";
import { attackResult, emptyResult, sampleResult } from "./fixtures.js";
import { inPage, openReport, type OpenedReport } from "./open-report.js";

/** Every axe-core violation (any impact) on the page as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  const result = await page.evaluate<{
    violations: {
      id: string;
      impact: string | null;
      help: string;
      nodes: { target: string[] }[];
    }[];
  }>("axe.run(document, { resultTypes: ['violations'] })");
  return result.violations.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
}

/** How far the page itself scrolls sideways (wide tables scroll inside their own region). */
const horizontalOverflow = (page: Page) =>
  inPage<number>(page, `return document.scrollingElement.scrollWidth - window.innerWidth;`);

describe.skipIf(!haveChromium)("monitoring report in a real browser (Debian's chromium)", () => {
  let browser: Browser;
  const opened: OpenedReport[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const report of opened) await report.page.close();
    await browser?.close();
  });

  const cases = [
    { name: "desktop, light", width: 1280, colorScheme: "light" as const },
    { name: "phone, light", width: 390, colorScheme: "light" as const },
    { name: "desktop, dark", width: 1280, colorScheme: "dark" as const },
    { name: "phone, dark", width: 390, colorScheme: "dark" as const },
  ];
  for (const view of cases) {
    it(`has no axe-core violation and makes no request (${view.name})`, async () => {
      const report = await openReport(browser, sampleResult(), {
        width: view.width,
        height: view.width > 500 ? 900 : 844,
        colorScheme: view.colorScheme,
      });
      opened.push(report);
      const { page } = report;
      expect(await axeViolations(page)).toEqual([]);
      // The collapsed lists and value tables too.
      await inPage(page, `document.querySelectorAll("details").forEach((d) => (d.open = true));`);
      expect(await axeViolations(page)).toEqual([]);
      expect(await horizontalOverflow(page)).toBe(0);
      // The stylesheet applies (its hash is in the document's policy) and follows the scheme.
      const background = await inPage<string>(
        page,
        `return getComputedStyle(document.documentElement).backgroundColor;`,
      );
      expect(background).toBe(
        view.colorScheme === "dark" ? "rgb(13, 17, 23)" : "rgb(255, 255, 255)",
      );
      expect(report.requests).toEqual([report.url]);
      expect(report.errors).toEqual([]);
    });
  }

  it("has no axe-core violation with hostile strings or without data", async () => {
    for (const result of [attackResult(), emptyResult()]) {
      const report = await openReport(browser, result, { width: 390 });
      opened.push(report);
      await inPage(
        report.page,
        `document.querySelectorAll("details").forEach((d) => (d.open = true));`,
      );
      expect(await axeViolations(report.page)).toEqual([]);
      expect(await horizontalOverflow(report.page)).toBe(0);
      expect(report.requests).toEqual([report.url]);
      expect(report.dialogs).toEqual([]);
    }
  });

  it("opens every collapsed list for printing, and prints", async () => {
    const report = await openReport(browser, sampleResult());
    opened.push(report);
    const { page } = report;
    const openDetails = `return [...document.querySelectorAll("details")].filter((d) => d.open).length;`;
    expect(await inPage<number>(page, openDetails)).toBe(0);
    await page.emulateMedia({ media: "print" });
    await inPage(page, `dispatchEvent(new Event("beforeprint"));`);
    const total = await inPage<number>(page, `return document.querySelectorAll("details").length;`);
    expect(total).toBeGreaterThan(5);
    expect(await inPage<number>(page, openDetails)).toBe(total);
    const pdf = await page.pdf({ format: "A4" });
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    await inPage(page, `dispatchEvent(new Event("afterprint"));`);
    expect(await inPage<number>(page, openDetails)).toBe(0);
    expect(report.requests).toEqual([report.url]);
  });
});
