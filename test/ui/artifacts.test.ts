import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBundle } from "../../src/model/bundle.js";
import { joinArtifactUri } from "../../src/registry/artifacts/uri.js";
import { Registry } from "../../src/registry/registry.js";
import type { ModelVersion, Run } from "../../src/registry/store/types.js";
import {
  ancestors,
  buildTree,
  formatBytes,
  modelDirs,
  viewKindOf,
  type TreeDir,
} from "../../src/ui/app/artifact-tree.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
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

/** A 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const NOTES = "first line of the notes\nsecond line\n";
const CSV = "city,trips,minutes\nBerlin,12,18.5\nParis,7,22.25\n";

/** A run as `mldeploy train --experiment` logs one (its bundle under `model`), plus files of several kinds. */
async function seedRun(dataDir: string): Promise<Run> {
  const files = tempDir("mldeploy-ui-artifacts-src-");
  await mkdir(path.join(files, "data"));
  await writeFile(path.join(files, "notes.txt"), NOTES);
  await writeFile(path.join(files, "metrics.json"), JSON.stringify({ rmse: 5.5, r2: 0.71 }));
  await writeFile(path.join(files, "data", "trips.csv"), CSV);
  await writeFile(path.join(files, "plot.png"), PNG);
  const registry = await Registry.open({ dataDir });
  try {
    const run = await registry.startRun({ experiment: "ride-duration", name: "with-artifacts" });
    await run.logArtifacts(files, "outputs");
    await run.logModel(await rideBundlePath());
    return await run.end();
  } finally {
    await registry.close();
  }
}

function api(server: UiServer, route: string): Promise<Response> {
  return fetch(`${server.url}/api/v1${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
}

describe.skipIf(!haveChromium)("a run's artifacts in the web UI (mldeploy ui)", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let run: Run;
  let dataDir: string;
  const panel = () => page.getByRole("region", { name: "Artifacts" });
  const viewer = () => panel().locator(".artifact-viewer");
  const tree = () => panel().getByRole("list", { name: "Artifact files" });

  beforeAll(async () => {
    dataDir = tempDir("mldeploy-ui-artifacts-");
    run = await seedRun(dataDir);
    server = await startUi(dataDir);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows the files as a tree whose directories open with the keyboard", async () => {
    await page.goto(`${server.url}/#/runs/${run.id}`);
    await enterToken(page);
    const outputs = tree().getByRole("button", { name: "outputs/" });
    await expect.poll(() => outputs.getAttribute("aria-expanded")).toBe("false");
    expect(await tree().getByRole("button", { name: "model/" }).count()).toBe(1);
    expect(
      await tree()
        .getByRole("button", { name: /notes\.txt/ })
        .count(),
    ).toBe(0);

    await outputs.focus();
    await page.keyboard.press("Enter");
    expect(await outputs.getAttribute("aria-expanded")).toBe("true");
    const names = await panel().locator(".artifact-tree .artifact-name").allTextContents();
    expect(names).toEqual(["metrics.json", "notes.txt", "plot.png"]);
    await tree().getByRole("button", { name: "data/" }).press("Space");
    await expect
      .poll(() =>
        tree()
          .getByRole("button", { name: /trips\.csv/ })
          .count(),
      )
      .toBe(1);
    expect(
      await tree()
        .getByRole("button", { name: /notes\.txt/ })
        .textContent(),
    ).toBe(`notes.txt${Buffer.byteLength(NOTES)} B`);
  });

  it("shows text, pretty-printed JSON, a CSV head as a table and an image; the selection is in the address", async () => {
    await tree()
      .getByRole("button", { name: /notes\.txt/ })
      .click();
    const text = viewer().getByLabel("Contents of notes.txt");
    await expect.poll(() => text.textContent()).toBe(NOTES);
    expect(page.url()).toContain("artifact=outputs%2Fnotes.txt");

    await tree()
      .getByRole("button", { name: /metrics\.json/ })
      .click();
    await expect
      .poll(() => viewer().getByLabel("Contents of metrics.json").textContent())
      .toBe(JSON.stringify({ rmse: 5.5, r2: 0.71 }, null, 2));

    await tree()
      .getByRole("button", { name: /trips\.csv/ })
      .click();
    const table = viewer().getByRole("table");
    await expect
      .poll(() => table.locator("thead th").allTextContents())
      .toEqual(["city", "trips", "minutes"]);
    expect(await table.locator("tbody tr").first().locator("td").allTextContents()).toEqual([
      "Berlin",
      "12",
      "18.5",
    ]);
    expect(await table.locator("caption").textContent()).toBe("trips.csv: all 2 rows");
    expect(await seriousViolations(page)).toEqual([]);

    await tree()
      .getByRole("button", { name: /plot\.png/ })
      .click();
    const image = viewer().getByRole("img", { name: "Image plot.png" });
    await expect
      .poll(() => image.evaluate((img) => (img as { naturalWidth: number }).naturalWidth))
      .toBe(1);
    expect(await image.getAttribute("src")).toMatch(/^blob:/);

    // The address alone opens the panel on the same file.
    await page.reload();
    await expect
      .poll(() => viewer().getByRole("heading", { level: 3 }).textContent())
      .toBe("outputs/plot.png");
    expect(
      await tree()
        .getByRole("button", { name: /plot\.png/ })
        .getAttribute("aria-current"),
    ).toBe("true");
  });

  it("downloads a file with the token (Content-Disposition: attachment)", async () => {
    await tree()
      .getByRole("button", { name: /notes\.txt/ })
      .click();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      viewer().getByRole("button", { name: "Download notes.txt" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("notes.txt");
    expect(await readFile(await download.path(), "utf8")).toBe(NOTES);
  });

  it("shows the model's signature and input example, with no serious axe finding at 1280×800 and 390×844", async () => {
    const model = page.getByRole("region", { name: "Model in model/" });
    const inputs = model.getByRole("table", { name: "Signature inputs" });
    await expect
      .poll(() => inputs.locator("tbody th").allTextContents())
      .toEqual(expect.arrayContaining(["PULocationID", "DOLocationID", "trip_distance"]));
    const bundle = await readBundle(await rideBundlePath());
    const distance = bundle.signature?.inputs.find((input) => input.name === "trip_distance");
    expect(
      await inputs
        .getByRole("row", { name: /trip_distance/ })
        .locator("td")
        .first()
        .textContent(),
    ).toBe(distance?.type);
    expect(await model.getByLabel("Input example").textContent()).toContain("trip_distance");
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("registers the model as a new version, asking for the token when the tab has none; the CLI's resolver loads it", async () => {
    const model = page.getByRole("region", { name: "Model in model/" });
    await model.getByLabel("Model name").fill("ride-from-page");
    await model.getByRole("button", { name: "Register as a new version" }).click();
    const result = model.getByRole("status");
    await expect.poll(() => result.textContent()).toBe("Registered ride-from-page version 1");
    expect(await result.getByRole("link").getAttribute("href")).toBe("#/models/ride-from-page");

    const answer = await api(server, "/models/ride-from-page/versions/1");
    expect(answer.status).toBe(200);
    const version = (await answer.json()) as ModelVersion;
    expect(version.source).toBe(joinArtifactUri(run.artifactUri, "model"));
    expect(version.runId).toBe(run.id);

    // The version is what `mldeploy models register ride-cli runs:/<run>/model` makes.
    const registry = await Registry.open({ url: server.url, token: TOKEN, dataDir: tempDir() });
    try {
      const cli = await registry.registerModel("ride-cli", version.source, { runId: run.id });
      expect(version.signature).toBe(cli.signature);
      const resolved = await registry.resolveModel("models:/ride-from-page/1");
      expect(resolved.runId).toBe(run.id);
      const bundle = await readBundle(resolved.path);
      expect(bundle.signature?.inputs.map((input) => input.name)).toContain("trip_distance");
    } finally {
      await registry.close();
    }

    // Without a token in the tab, the write asks for one, then goes through.
    await page.evaluate("sessionStorage.clear()");
    await model.getByLabel("Model name").fill("ride-from-page");
    await model.getByRole("button", { name: "Register as a new version" }).click();
    await enterToken(page);
    await expect.poll(() => result.textContent()).toBe("Registered ride-from-page version 2");
  });
});

describe("the artifact tree and viewer choice (src/ui/app/artifact-tree.ts)", () => {
  const files = [
    { path: "model/MLmodel", size: 900 },
    { path: "model/model.onnx", size: 2048 },
    { path: "outputs/data/trips.csv", size: 40 },
    { path: "outputs/notes.txt", size: 12 },
    { path: "README", size: 3 },
    { path: "nested/deeper/MLmodel", size: 10 },
  ];

  it("puts directories before files, each by name, at every level", () => {
    const tree = buildTree(files);
    expect(tree.children.map((node) => `${node.kind}:${node.path}`)).toEqual([
      "dir:model",
      "dir:nested",
      "dir:outputs",
      "file:README",
    ]);
    const outputs = tree.children[2] as TreeDir;
    expect(outputs.children.map((node) => node.name)).toEqual(["data", "notes.txt"]);
    expect(ancestors("outputs/data/trips.csv")).toEqual(["outputs", "outputs/data"]);
  });

  it("finds the model directories and picks a viewer by name, never drawing an SVG", () => {
    expect(modelDirs(files)).toEqual(["model", "nested/deeper"]);
    expect(modelDirs([{ path: "MLmodel", size: 1 }])).toEqual([""]);
    expect(
      ["model/MLmodel", "a.JSON", "b.parquet", "c.png", "d.svg", "e.yaml", "model.onnx", "x"].map(
        viewKindOf,
      ),
    ).toEqual(["text", "json", "table", "image", "svg", "text", "binary", "binary"]);
    expect([0, 1023, 1024, 5 * 1024 * 1024].map(formatBytes)).toEqual([
      "0 B",
      "1023 B",
      "1.0 KB",
      "5.0 MB",
    ]);
  });
});
