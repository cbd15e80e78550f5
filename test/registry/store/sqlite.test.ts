import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import { describeStoreContract } from "./contract.js";
import { scratchDirs } from "./helpers.js";

const scratch = scratchDirs();

describeStoreContract("SQLite", ({ artifactRoot }) =>
  SqliteStore.open(path.join(scratch(), "registry.db"), { artifactRoot }),
);

describe("SqliteStore", () => {
  it("creates the file's directory and describes itself by path", async () => {
    const file = path.join(scratch(), "nested", "deeper", "registry.db");
    const store = await SqliteStore.open(file);
    expect(existsSync(file)).toBe(true);
    expect(store.description).toBe(`sqlite:${file}`);
    await store.close();
  });

  it("defaults the artifact root to an artifacts directory next to the file", async () => {
    const dir = scratch();
    const store = await SqliteStore.open(path.join(dir, "registry.db"));
    const experiment = await store.createExperiment("e");
    expect(experiment.artifactLocation).toBe(path.join(dir, "artifacts", experiment.id));
    await store.close();
  });

  it("keeps what was written after closing and opening again", async () => {
    const file = path.join(scratch(), "registry.db");
    const first = await SqliteStore.open(file);
    const experiment = await first.createExperiment("persist");
    await first.createModelVersion({ name: "m", source: "x" });
    await first.close();
    const second = await SqliteStore.open(file);
    expect(await second.getExperiment(experiment.id)).toEqual(experiment);
    expect((await second.createModelVersion({ name: "m", source: "y" })).version).toBe(2);
    await second.close();
  });

  it("offers its tracking store and its model-registry store apart, over one database", async () => {
    const store = await SqliteStore.open(path.join(scratch(), "registry.db"));
    const { tracking, models } = store;
    const experiment = await tracking.createExperiment("split");
    const run = await tracking.createRun({ experimentId: experiment.id });
    const version = await models.createModelVersion({ name: "m", source: "x", runId: run.id });
    expect(version.runId).toBe(run.id);
    expect(await store.getModelVersion("m", 1)).toEqual(version);
    expect(await store.getRun(run.id)).toEqual(await tracking.getRun(run.id));
    // The model-registry side checks runs in the tracking side's tables.
    await expect(
      models.createModelVersion({ name: "m", source: "y", runId: "0".repeat(32) }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await store.close();
  });

  it("serializes concurrent transactions on one connection", async () => {
    const store = await SqliteStore.open(path.join(scratch(), "registry.db"));
    const versions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.createModelVersion({ name: "m", source: `${i}` })),
    );
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await store.close();
  });
});
