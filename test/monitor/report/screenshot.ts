/**
 * Renders the sample reports to a folder and photographs them in Debian's chromium, to look
 * at the report while working on it (not a test; the pictures are not committed):
 *   npx esbuild test/monitor/report/screenshot.ts --bundle --platform=node --format=esm \
 *     --packages=external --outfile=node_modules/.cache/report-shots.mjs \
 *     && node node_modules/.cache/report-shots.mjs [dir]
 * (bundled inside the project so that playwright-core resolves from its node_modules).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { renderReport } from "../../../src/monitor/report/index.js";
import {
  attackResult,
  emptyResult,
  fiftyCategoriesResult,
  sampleResult,
  twentyColumnsResult,
} from "./fixtures.js";

const dir = process.argv[2] ?? "/tmp/mldeploy-report-shots";
mkdirSync(dir, { recursive: true });
const reports = {
  sample: sampleResult(),
  attack: attackResult(),
  fifty: fiftyCategoriesResult(),
  twenty: twentyColumnsResult(),
  empty: emptyResult(),
};
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true });
try {
  for (const [name, result] of Object.entries(reports)) {
    const file = path.join(dir, `${name}.html`);
    const text = renderReport(result);
    writeFileSync(file, text);
    console.log(`${file}: ${text.length.toLocaleString("en-US")} characters`);
    const shots = [
      { suffix: "1280", width: 1280, height: 900, colorScheme: "light" as const },
      { suffix: "390", width: 390, height: 844, colorScheme: "light" as const },
      { suffix: "dark", width: 1280, height: 900, colorScheme: "dark" as const },
    ];
    for (const shot of shots) {
      const page = await browser.newPage({
        viewport: { width: shot.width, height: shot.height },
        colorScheme: shot.colorScheme,
      });
      await page.goto(pathToFileURL(file).href);
      await page.screenshot({ path: path.join(dir, `${name}-${shot.suffix}.png`), fullPage: true });
      await page.close();
    }
  }
  const page = await browser.newPage();
  await page.goto(pathToFileURL(path.join(dir, "sample.html")).href);
  await page.pdf({ path: path.join(dir, "sample.pdf"), format: "A4" });
} finally {
  await browser.close();
}
