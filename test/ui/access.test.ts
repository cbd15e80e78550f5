import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/registry/store/open-store.js";
import { tempDir } from "../helpers/temp.js";
import {
  enterToken,
  haveChromium,
  launchChromium,
  seriousViolations,
  startUi,
  UI_TOKEN,
  type UiServer,
} from "./browser.js";

const PROMPT = "This registry needs a token";

async function seedRegistry(dataDir: string): Promise<void> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("ride-duration");
    const run = await store.createRun({ experimentId: experiment.id, name: "baseline" });
    await store.logMetrics(run.id, [{ key: "valid_rmse", value: 5.5, step: 0 }]);
    await store.endRun(run.id, "FINISHED");
  } finally {
    await store.close();
  }
}

/** The experiments table's first column, once loaded. */
const experimentRows = (page: Page) => page.locator("tbody td:first-child").allTextContents();
const promptShown = (page: Page) => page.getByRole("heading", { name: PROMPT }).count();
const alertText = (page: Page) => page.locator(".token [role=alert]").textContent();

/** How far the page scrolls sideways beyond the viewport (0 = none). Page code is given as
 * strings: the tests compile without the DOM's types. */
const horizontalOverflow = (page: Page) =>
  page.evaluate<number>("document.scrollingElement.scrollWidth - window.innerWidth");

describe.skipIf(!haveChromium)("access to the web UI (mldeploy ui, Debian's chromium)", () => {
  let dataDir: string;
  let browser: Browser;
  const servers: UiServer[] = [];

  beforeAll(async () => {
    dataDir = tempDir("mldeploy-ui-access-");
    await seedRegistry(dataDir);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    for (const server of servers) await server.stop();
  });

  async function open(
    args: string[],
    viewport = { width: 390, height: 844 },
    env: Record<string, string> = {},
  ) {
    const server = await startUi(dataDir, { args, env });
    servers.push(server);
    const context = await browser.newContext({ viewport });
    return { server, page: await context.newPage() };
  }

  describe("with --public-read", () => {
    let page: Page;
    let url: string;
    beforeAll(async () => {
      const opened = await open(["--public-read"]);
      page = opened.page;
      url = opened.server.url;
    });

    it("shows the experiments with no token prompt; the header offers to enter one", async () => {
      await page.goto(`${url}/`);
      await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
      expect(await promptShown(page)).toBe(0);
      await expect.poll(() => page.getByRole("button", { name: "Enter token" }).count()).toBe(1);
      expect(await page.getByText("Token set").count()).toBe(0);
      expect(await seriousViolations(page)).toEqual([]);
    });

    it("refuses a wrong token entered in the header (the message shows), forgets it, then takes the right one", async () => {
      await page.getByRole("button", { name: "Enter token" }).click();
      // The field has the focus: the keyboard goes on from the button.
      await expect
        .poll(() => page.evaluate<string | undefined>("document.activeElement?.id"))
        .toBe("header-token");
      // The open form fits the phone's width too.
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await page.getByLabel("API token").fill("not-the-token");
      await page.getByRole("button", { name: "Set token" }).click();
      // Reads are public, but a token that is sent is checked: never silently ignored.
      await expect.poll(() => promptShown(page)).toBe(1);
      expect(await alertText(page)).toContain("the bearer token was refused");
      expect(await page.locator(".token-control").textContent()).toContain("Token set");
      expect(await seriousViolations(page)).toEqual([]);

      await page.getByRole("button", { name: "Forget token" }).click();
      await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
      expect(await promptShown(page)).toBe(0);
      expect(await page.evaluate<number>("sessionStorage.length")).toBe(0);

      await page.getByRole("button", { name: "Enter token" }).click();
      await page.getByLabel("API token").fill(UI_TOKEN);
      await page.keyboard.press("Enter");
      await expect.poll(() => page.getByRole("button", { name: "Forget token" }).count()).toBe(1);
      await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
      expect(await promptShown(page)).toBe(0);
    });

    it("Escape closes the header's token form without setting anything", async () => {
      await page.getByRole("button", { name: "Forget token" }).click();
      await page.getByRole("button", { name: "Enter token" }).click();
      await page.getByLabel("API token").fill("half-typed");
      await page.keyboard.press("Escape");
      await expect.poll(() => page.getByRole("button", { name: "Enter token" }).count()).toBe(1);
      expect(await page.evaluate<number>("sessionStorage.length")).toBe(0);
    });
  });

  describe("without --public-read (a token set)", () => {
    let page: Page;
    let url: string;
    beforeAll(async () => {
      const opened = await open([]);
      page = opened.page;
      url = opened.server.url;
    });

    it("asks for the token before showing anything, refuses a wrong one with the server's message, accepts the right one", async () => {
      await page.goto(`${url}/`);
      await expect.poll(() => promptShown(page)).toBe(1);
      expect(await alertText(page)).toContain("requires a token");
      expect(await experimentRows(page)).toEqual([]);
      expect(await seriousViolations(page)).toEqual([]);

      await enterToken(page, "not-the-token");
      await expect.poll(() => alertText(page)).toContain("the bearer token was refused");
      expect(await promptShown(page)).toBe(1);

      await enterToken(page);
      await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
      expect(await promptShown(page)).toBe(0);
      // The page's prompt set it: the header says so.
      expect(await page.locator(".token-control").textContent()).toContain("Token set");
    });

    it("the shell reads well at 390×844: no sideways scrolling, landmarks, the navigation in view, axe is clean", async () => {
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      expect(await page.getByRole("banner").count()).toBe(1);
      expect(await page.getByRole("main").count()).toBe(1);
      const nav = page.getByRole("navigation", { name: "Main" });
      expect(await nav.getByRole("link").allTextContents()).toEqual([
        "Experiments",
        "Models",
        "Deployments",
        "Batch jobs",
      ]);
      // Every navigation link lies within the viewport.
      for (const box of await nav
        .getByRole("link")
        .evaluateAll((links) => links.map((link) => link.getBoundingClientRect().right))) {
        expect(box).toBeLessThanOrEqual(390);
      }
      expect(
        await nav.getByRole("link", { name: "Experiments" }).getAttribute("aria-current"),
      ).toBe("page");
      expect(await seriousViolations(page)).toEqual([]);

      for (const path of ["/models", "/deployments", "/batch", "/no-such-page"]) {
        await page.goto(`${url}/#${path}`);
        await expect.poll(() => page.getByRole("heading", { level: 1 }).count()).toBe(1);
        expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      }
    });

    it("the skip link moves the keyboard to the page without changing the address", async () => {
      await page.goto(`${url}/#/experiments`);
      // A fresh document: the keyboard starts from the top.
      await page.reload();
      await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
      await page.keyboard.press("Tab");
      expect(await page.evaluate<string | undefined>("document.activeElement?.textContent")).toBe(
        "Skip to content",
      );
      // Focus is visible: the skip link comes into view.
      const box = await page.getByRole("link", { name: "Skip to content" }).boundingBox();
      expect(box?.x).toBeGreaterThanOrEqual(0);
      await page.keyboard.press("Enter");
      expect(await page.evaluate<string | undefined>("document.activeElement?.id")).toBe("content");
      expect(page.url()).toMatch(/#\/experiments$/);
    });

    it("an unknown page is a clear page with a way on, at 1280×800 too", async () => {
      const wide = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await wide.goto(`${url}/#/no-such-page`);
      await expect
        .poll(() => wide.getByRole("heading", { level: 1 }).textContent())
        .toBe("Not found");
      const text = await wide.locator("main").textContent();
      expect(text).toContain("The page “/no-such-page” does not exist in this registry");
      expect(
        await wide.getByRole("main").getByRole("link", { name: "Back to the experiments" }).count(),
      ).toBe(1);
      expect(await wide.title()).toBe("Not found · mldeploy");
      expect(await seriousViolations(wide)).toEqual([]);
      await wide.close();
    });
  });

  it("a server without a token: pages load and the header offers no token control", async () => {
    // An empty MLDEPLOY_REGISTRY_TOKEN counts as unset.
    const { server, page } = await open([], undefined, { MLDEPLOY_REGISTRY_TOKEN: "" });
    await page.goto(`${server.url}/`);
    await expect.poll(() => experimentRows(page)).toEqual(["ride-duration"]);
    expect(await promptShown(page)).toBe(0);
    // The control decides after one look at the server's OpenAPI document.
    await page.waitForLoadState("networkidle");
    expect(await page.locator(".token-control").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Enter token" }).count()).toBe(0);
  });
});
