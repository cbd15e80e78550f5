import { writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import type { MonitorResult } from "../../../src/monitor/job/types.js";
import { renderReport } from "../../../src/monitor/report/index.js";
import { tempDir } from "../../helpers/temp.js";

export interface OpenedReport {
  page: Page;
  html: string;
  url: string;
  /** Every request the page made, its own file included. */
  requests: string[];
  /** Console errors (a Content-Security-Policy violation would show here) and page errors. */
  errors: string[];
  /** Messages of alert/confirm/prompt dialogs the page opened. */
  dialogs: string[];
}

/** The report of `result` written to a file and opened from disk, as a user opens it. */
export async function openReport(
  browser: Browser,
  result: MonitorResult,
  options: { width?: number; height?: number; colorScheme?: "light" | "dark" } = {},
): Promise<OpenedReport> {
  const html = renderReport(result);
  const file = path.join(tempDir("mldeploy-report-"), "report.html");
  writeFileSync(file, html);
  const url = pathToFileURL(file).href;
  const page = await browser.newPage({
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    colorScheme: options.colorScheme ?? "light",
  });
  const requests: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, html, url, requests, errors, dialogs };
}

/** Runs `body` (page code as a string: the tests compile without the DOM's types). */
export function inPage<T>(page: Page, body: string): Promise<T> {
  return page.evaluate<T>(`(() => { ${body} })()`);
}
