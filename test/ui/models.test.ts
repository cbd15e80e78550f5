import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/registry/store/open-store.js";
import type { ModelVersion } from "../../src/registry/store/types.js";
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

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** mldeploy's own signature shape (lists of columns), as `train` registers it. */
const COLUMNS_SIGNATURE = JSON.stringify({
  inputs: [
    { name: "PULocationID", type: "string" },
    { name: "trip_distance", type: "double" },
  ],
  outputs: [{ name: "duration", type: "float" }],
});
/** MLmodel's own shape: each side JSON text, here a tensor. */
const TENSOR_SIGNATURE = JSON.stringify({
  inputs: JSON.stringify([{ type: "tensor", "tensor-spec": { dtype: "float32", shape: [-1, 3] } }]),
  outputs: JSON.stringify([{ name: "duration", type: "double" }]),
});

interface Seeded {
  runA: string;
  runB: string;
}

/** ride-duration v1 (@production) and v2 (@staging) from two runs; churn v1, no alias. */
async function seedRegistry(dataDir: string): Promise<Seeded> {
  const store = await openStore(undefined, { dataDir });
  try {
    const experiment = await store.createExperiment("nyc-taxi");
    const runA = await store.createRun({ experimentId: experiment.id, name: "train-alpha-0" });
    const runB = await store.createRun({ experimentId: experiment.id, name: "train-alpha-1" });
    await store.createRegisteredModel("ride-duration", "Minutes per NYC taxi ride");
    await store.createModelVersion({
      name: "ride-duration",
      source: "/models/ride-duration/1",
      runId: runA.id,
      signature: COLUMNS_SIGNATURE,
      tags: { validated: "true" },
    });
    await store.createModelVersion({
      name: "ride-duration",
      source: "s3://models/ride-duration/2",
      runId: runB.id,
      signature: TENSOR_SIGNATURE,
    });
    await store.setAlias("ride-duration", "production", 1);
    await store.setAlias("ride-duration", "staging", 2);
    await store.createModelVersion({ name: "churn", source: "/models/churn/1" });
    return { runA: runA.id, runB: runB.id };
  } finally {
    await store.close();
  }
}

describe.skipIf(!haveChromium)("Models pages in Debian's chromium (mldeploy ui)", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let seeded: Seeded;

  /** The alias → version map, read through the API (not the page). */
  async function aliasesViaApi(): Promise<Record<string, number>> {
    const answer = await fetch(`${server.url}/api/v1/models/ride-duration`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(answer.status).toBe(200);
    return ((await answer.json()) as { aliases: Record<string, number> }).aliases;
  }

  /** The page's alias list, as "@alias → version N" lines. */
  async function aliasesOnPage(): Promise<string[]> {
    const items = await page.locator("ul.aliases .alias-change").allTextContents();
    return items.map((text) => text.replace(/\s+/g, " ").trim());
  }

  const dialog = () => page.getByRole("dialog");

  /** The focused element's text, id or role (read in the page). */
  const focused = (what: "textContent" | "id" | "role") =>
    page.evaluate<string | null>(
      what === "role"
        ? "document.activeElement?.getAttribute('role') ?? null"
        : `document.activeElement?.${what} ?? null`,
    );

  async function axeAtBothSizes(): Promise<void> {
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      expect(await seriousViolations(page), `${size.width}×${size.height}`).toEqual([]);
    }
    await page.setViewportSize(PHONE);
  }

  beforeAll(async () => {
    const dataDir = tempDir("mldeploy-ui-models-");
    seeded = await seedRegistry(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: PHONE });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("lists every model with its latest version, aliases and description; the search is in the URL", async () => {
    await page.goto(`${server.url}/#/models`);
    await enterToken(page);
    const ride = page.getByRole("row", { name: /ride-duration/ });
    await expect.poll(() => ride.locator('[data-column="latest"]').textContent()).toBe("v2");
    expect(await ride.locator('[data-column="aliases"] li').allTextContents()).toEqual([
      "@production → v1",
      "@staging → v2",
    ]);
    expect(await ride.locator('[data-column="description"]').textContent()).toBe(
      "Minutes per NYC taxi ride",
    );
    const churn = page.getByRole("row", { name: /churn/ });
    expect(await churn.locator('[data-column="latest"]').textContent()).toBe("v1");
    expect(await churn.locator('[data-column="aliases"]').textContent()).toBe("none");
    expect(await page.locator("tbody tr").count()).toBe(2);
    await axeAtBothSizes();

    await page.getByLabel("Search models").fill("taxi");
    await expect.poll(() => page.locator("tbody tr").count()).toBe(1);
    expect(page.url()).toContain("#/models?q=taxi");
    await page.reload();
    await expect.poll(() => page.locator("tbody th").allTextContents()).toEqual(["ride-duration"]);
    expect(await page.getByLabel("Search models").inputValue()).toBe("taxi");
    await page.getByLabel("Search models").fill("nothing-like-this");
    await expect.poll(() => page.locator("main").textContent()).toContain("No model name");
  });

  it("opens a model: versions with run links, signature summaries, tags, aliases and sources", async () => {
    await page.goto(`${server.url}/#/models?q=ride`);
    await page.getByRole("link", { name: "ride-duration" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("ride-duration");
    expect(page.url()).toContain("#/models/ride-duration");
    const rows = page.locator("table.versions tbody tr");
    expect(await rows.locator("th").allTextContents()).toEqual(["v2", "v1"]);
    const v1 = page.locator('tr[data-version="1"]');
    const v2 = page.locator('tr[data-version="2"]');

    const run = v1.getByRole("link", { name: "train-alpha-0" });
    expect(await run.getAttribute("href")).toBe(`#/runs/${seeded.runA}`);
    expect(await v2.getByRole("link").getAttribute("href")).toBe(`#/runs/${seeded.runB}`);
    expect(await v1.locator('[data-column="signature"]').textContent()).toBe(
      "PULocationID: string, trip_distance: double → duration: float",
    );
    expect(await v2.locator('[data-column="signature"]').textContent()).toBe(
      "tensor float32 [-1, 3] → duration: double",
    );
    expect(await v1.locator('[data-column="tags"]').textContent()).toBe("validated=true");
    expect(await v2.locator('[data-column="tags"]').textContent()).toBe("none");
    expect((await v1.locator('[data-column="aliases"]').textContent())?.trim()).toBe("@production");
    expect(await v2.locator('[data-column="source"] code').textContent()).toBe(
      "s3://models/ride-duration/2",
    );
    expect(await aliasesOnPage()).toEqual(["@production → version 1", "@staging → version 2"]);
    expect(await page.getByRole("heading", { name: "Try it" }).count()).toBe(1);
    await axeAtBothSizes();

    await run.click();
    expect(page.url()).toContain(`#/runs/${seeded.runA}`);
  });

  it("moves @production from v1 to v2 after a confirmation; Cancel and Escape change nothing", async () => {
    await page.goto(`${server.url}/#/models/ride-duration`);
    const move = page.getByRole("button", { name: "Move alias…" });
    await move.waitFor();
    await page.getByLabel("Alias", { exact: true }).fill("production");
    await page.getByLabel("Version", { exact: true }).selectOption("2");

    // Keyboard: the button opens the dialog, focus goes into it (on Cancel), Escape closes it
    // and focus comes back to the button.
    await move.focus();
    await page.keyboard.press("Enter");
    await dialog().waitFor();
    expect(await dialog().getByTestId("alias-change").textContent()).toBe(
      "@production: version 1 → version 2",
    );
    expect(await focused("textContent")).toBe("Cancel");
    expect(await page.evaluate("document.activeElement?.closest('dialog') !== null")).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);
    await page.keyboard.press("Escape");
    await dialog().waitFor({ state: "detached" });
    expect(await focused("textContent")).toBe("Move alias…");

    await move.click();
    await dialog().getByRole("button", { name: "Cancel" }).click();
    await dialog().waitFor({ state: "detached" });
    expect(await aliasesViaApi()).toEqual({ production: 1, staging: 2 });
    expect(await aliasesOnPage()).toEqual(["@production → version 1", "@staging → version 2"]);

    await move.click();
    await page.setViewportSize(DESKTOP);
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize(PHONE);
    await dialog().getByRole("button", { name: "Confirm" }).click();
    await dialog().waitFor({ state: "detached" });
    await expect
      .poll(() => page.getByRole("status").textContent())
      .toBe("@production now points at version 2.");
    expect(await aliasesOnPage()).toEqual(["@production → version 2", "@staging → version 2"]);
    expect(
      (await page.locator('tr[data-version="2"] [data-column="aliases"]').textContent())?.trim(),
    ).toBe("@production @staging");
    expect(await aliasesViaApi()).toEqual({ production: 2, staging: 2 });
    const version = (await (
      await fetch(`${server.url}/api/v1/models/ride-duration/aliases/production`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).json()) as ModelVersion;
    expect(version.version).toBe(2);
  });

  it("creates a new alias; a missing token is asked for in the dialog and the write retried", async () => {
    await page.goto(`${server.url}/#/models/ride-duration`);
    await page.getByRole("button", { name: "Move alias…" }).waitFor();
    // The tab forgets its token: the write answers 401.
    await page.evaluate("sessionStorage.clear()");
    await page.getByLabel("Alias", { exact: true }).fill("candidate");
    await page.getByLabel("Version", { exact: true }).selectOption("1");
    await page.getByRole("button", { name: "Move alias…" }).click();
    expect(await dialog().getByTestId("alias-change").textContent()).toBe(
      "@candidate: new alias → version 1",
    );
    await dialog().getByRole("button", { name: "Confirm" }).click();
    await dialog().getByLabel("Registry token").waitFor();
    expect(await aliasesViaApi()).not.toHaveProperty("candidate");
    await enterToken(page);
    await dialog().waitFor({ state: "detached" });
    await expect
      .poll(() => page.getByRole("status").textContent())
      .toBe("@candidate now points at version 1.");
    expect(await aliasesOnPage()).toContain("@candidate → version 1");
    expect(await aliasesViaApi()).toEqual({ candidate: 1, production: 2, staging: 2 });
  });

  it("prefills the form from an alias's Move button and puts focus on the version", async () => {
    await page.getByRole("button", { name: "Move @candidate" }).click();
    expect(await page.getByLabel("Alias", { exact: true }).inputValue()).toBe("candidate");
    expect(await page.getByLabel("Version", { exact: true }).inputValue()).toBe("2");
    expect(await focused("id")).toBe("move-alias-version");
  });

  it("refuses to move an alias to the version it already has, and reports a refused name", async () => {
    await page.getByLabel("Alias", { exact: true }).fill("production");
    await page.getByLabel("Version", { exact: true }).selectOption("2");
    await page.getByRole("button", { name: "Move alias…" }).click();
    await expect
      .poll(() => page.locator(".move-alias [role=alert]").textContent())
      .toBe("@production already points at version 2.");
    expect(await dialog().count()).toBe(0);

    await page.getByLabel("Alias", { exact: true }).fill("latest");
    await page.getByRole("button", { name: "Move alias…" }).click();
    await dialog().getByRole("button", { name: "Confirm" }).click();
    await expect.poll(() => dialog().getByRole("alert").textContent()).toContain("reserved");
    await dialog().getByRole("button", { name: "Cancel" }).click();
    expect(await aliasesViaApi()).toEqual({ candidate: 1, production: 2, staging: 2 });
  });

  it("deletes an alias after a confirmation", async () => {
    await page.getByRole("button", { name: "Delete @staging" }).click();
    expect(await dialog().getByTestId("alias-change").textContent()).toBe(
      "@staging: version 2 → no version",
    );
    await dialog().getByRole("button", { name: "Delete alias" }).click();
    await dialog().waitFor({ state: "detached" });
    await expect.poll(() => page.getByRole("status").textContent()).toBe("@staging deleted.");
    expect(await aliasesOnPage()).toEqual(["@candidate → version 1", "@production → version 2"]);
    expect(await aliasesViaApi()).toEqual({ candidate: 1, production: 2 });
    // The Delete button is gone with its alias: focus lands on the outcome, not on nothing.
    await expect.poll(() => focused("role")).toBe("status");
    await axeAtBothSizes();
  });

  it("shows a clear page for an unknown model", async () => {
    await page.goto(`${server.url}/#/models/no-such-model`);
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent())
      .toBe("Not found");
    expect(await page.locator("main").textContent()).toContain(
      "The model “no-such-model” does not exist in this registry.",
    );
    expect(await page.title()).toBe("Not found · mldeploy");
    expect(await page.getByRole("link", { name: "Back to the models" }).getAttribute("href")).toBe(
      "#/models",
    );
    expect(await seriousViolations(page)).toEqual([]);
  });

  it("tells how to register a first model when the registry has none", async () => {
    const empty = await startUi(tempDir("mldeploy-ui-no-models-"));
    try {
      await page.goto(`${empty.url}/#/models`);
      await enterToken(page);
      await expect
        .poll(() => page.locator("main").textContent())
        .toContain("No registered models yet");
      const commands = await page.locator(".models-empty code").allTextContents();
      expect(
        commands.some((c) => c.startsWith("mldeploy train ") && c.includes("--register")),
      ).toBe(true);
      expect(
        commands.some((c) => c.startsWith("mldeploy import ") && c.includes("--register")),
      ).toBe(true);
      await axeAtBothSizes();
    } finally {
      await empty.stop();
    }
  });
});
