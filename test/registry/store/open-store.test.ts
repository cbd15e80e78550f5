import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, parseStoreUrl } from "../../../src/registry/store/open-store.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas, scratchDirs } from "./helpers.js";

const scratch = scratchDirs();

const HAS_POSTGRES = await postgresReachable();

describe("parseStoreUrl", () => {
  it("defaults to registry.db in the data directory", () => {
    expect(parseStoreUrl(undefined)).toEqual({
      kind: "sqlite",
      file: path.join("./mldeploy-data", "registry.db"),
    });
    expect(parseStoreUrl("", "/data")).toEqual({ kind: "sqlite", file: "/data/registry.db" });
  });

  it.each([
    ["sqlite:registry.db", "registry.db"],
    ["sqlite:./dir/r.db", "./dir/r.db"],
    ["sqlite:/abs/r.db", "/abs/r.db"],
    ["sqlite:///abs/r.db", "/abs/r.db"],
  ])("reads %s as the file %s", (url, file) => {
    expect(parseStoreUrl(url)).toEqual({ kind: "sqlite", file });
  });

  it("takes the schema out of a PostgreSQL URL", () => {
    expect(parseStoreUrl("postgres://u:p@h:5432/db?schema=reg&sslmode=require")).toEqual({
      kind: "postgres",
      url: "postgres://u:p@h:5432/db?sslmode=require",
      schema: "reg",
    });
    expect(parseStoreUrl("postgresql://h/db")).toEqual({
      kind: "postgres",
      url: "postgresql://h/db",
    });
  });

  it("recognizes registry-server URLs", () => {
    expect(parseStoreUrl("https://registry.example")).toEqual({
      kind: "http",
      url: "https://registry.example",
    });
  });

  it("refuses other schemes, naming MLDEPLOY_REGISTRY_URL but not the credentials", () => {
    let message = "";
    try {
      parseStoreUrl("mysql://root:hunter2@db/reg");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("MLDEPLOY_REGISTRY_URL");
    expect(message).toContain('"mysql:"');
    expect(message).not.toContain("hunter2");
    expect(() => parseStoreUrl("./registry.db")).toThrow(/no scheme.*MLDEPLOY_REGISTRY_URL/);
    expect(() => parseStoreUrl("sqlite:")).toThrow(/names no file/);
  });
});

describe("openStore", () => {
  it("opens SQLite in the data directory, with artifacts beside it", async () => {
    const dataDir = scratch();
    const store = await openStore(undefined, { dataDir });
    expect(store.description).toBe(`sqlite:${path.join(dataDir, "registry.db")}`);
    expect(existsSync(path.join(dataDir, "registry.db"))).toBe(true);
    const experiment = await store.createExperiment("e");
    expect(experiment.artifactLocation).toBe(path.join(dataDir, "artifacts", experiment.id));
    await store.close();
  });

  it("opens a sqlite: URL, with the artifact root given", async () => {
    const file = path.join(scratch(), "x", "reg.db");
    const store = await openStore(`sqlite:${file}`, { artifactRoot: "s3://bucket/root" });
    expect(store.description).toBe(`sqlite:${file}`);
    const experiment = await store.createExperiment("e");
    expect(experiment.artifactLocation).toBe(`s3://bucket/root/${experiment.id}`);
    await store.close();
  });

  it("opens an http(s) URL as a registry-server client that names the URL when unreachable", async () => {
    const store = await openStore("http://127.0.0.1:1", { token: "secret" });
    expect(store.description).toContain("http://127.0.0.1:1");
    expect(store.description).not.toContain("secret");
    await expect(store.listExperiments()).rejects.toThrow(
      /registry server at http:\/\/127\.0\.0\.1:1/,
    );
    await store.close();
  });

  const schemas = new TestSchemas();
  afterAll(() => schemas.drop());

  it.skipIf(!HAS_POSTGRES)(
    `opens a postgres:// URL with ?schema=${HAS_POSTGRES ? "" : ` — ${NO_POSTGRES}`}`,
    async () => {
      const schema = schemas.next();
      const store = await openStore(`${PG_URL}?schema=${schema}`, { dataDir: "/srv/data" });
      expect(store.description).toContain(`schema=${schema}`);
      const experiment = await store.createExperiment("e");
      expect(experiment.artifactLocation).toBe(`/srv/data/artifacts/${experiment.id}`);
      await store.close();
    },
  );
});
