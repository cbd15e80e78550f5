import { createServer, type Server } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { RegistryError } from "../../../src/registry/errors.js";
import { HttpStore } from "../../../src/registry/store/http-store.js";
import { tempDir } from "../../helpers/temp.js";
import { outcome, startRegistry, type TestRegistry } from "./helpers.js";

describe("HttpStore against a registry server over SQLite", () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ artifactRoot: path.join(tempDir(), "artifacts") });
  });
  afterAll(() => registry.close());

  it("round-trips every RegistryStore method, reading back what the local store holds", async () => {
    const { client, local } = registry;

    const experiment = await client.createExperiment("round trip", { tags: { team: "ml" } });
    expect(experiment).toEqual(await local.getExperiment(experiment.id));
    expect(await client.getExperiment(experiment.id)).toEqual(experiment);
    expect(await client.findExperimentByName("round trip")).toEqual(experiment);
    expect(await client.findExperimentByName("absent")).toBeUndefined();
    expect(await client.listExperiments()).toEqual(await local.listExperiments());

    const run = await client.createRun({
      experimentId: experiment.id,
      name: "baseline",
      tags: { git: "abc" },
      startTime: 1_700_000_000_000,
    });
    expect(run).toMatchObject({ name: "baseline", status: "RUNNING", tags: { git: "abc" } });
    await client.logParams(run.id, { lr: 0.1, epochs: 10, shuffle: true, solver: "lsqr" });
    await client.logMetrics(run.id, [
      { key: "eval/rmse", value: 6.5, step: 1, timestamp: 1000 },
      { key: "eval/rmse", value: 5.25, step: 2, timestamp: 2000 },
      { key: "loss", value: -0.5 },
    ]);
    await client.setRunTags(run.id, { review: "ok" });
    expect(await client.getMetricHistory(run.id, "eval/rmse")).toEqual(
      await local.getMetricHistory(run.id, "eval/rmse"),
    );
    expect(await client.getMetricHistory(run.id, "eval/rmse")).toEqual([
      { key: "eval/rmse", value: 6.5, step: 1, timestamp: 1000 },
      { key: "eval/rmse", value: 5.25, step: 2, timestamp: 2000 },
    ]);
    const fetched = await client.getRun(run.id);
    expect(fetched).toEqual(await local.getRun(run.id));
    expect(fetched).toMatchObject({
      params: { lr: "0.1", epochs: "10", shuffle: "true", solver: "lsqr" },
      tags: { git: "abc", review: "ok" },
      latestMetrics: { "eval/rmse": 5.25, loss: -0.5 },
    });

    const ended = await client.endRun(run.id, "FINISHED", 1_700_000_360_000);
    expect(ended).toEqual(await local.getRun(run.id));
    expect(ended).toMatchObject({ status: "FINISHED", endTime: 1_700_000_360_000 });
    expect(
      await client.listRuns({ experimentId: experiment.id, status: "FINISHED", limit: 5 }),
    ).toEqual(await local.listRuns({ experimentId: experiment.id, status: "FINISHED", limit: 5 }));
    expect(await client.listRuns({ status: "KILLED" })).toEqual([]);
    expect(await client.listRuns()).toEqual(await local.listRuns());

    const model = await client.createRegisteredModel("ride-duration", "NYC taxi rides");
    expect(model).toEqual(await local.getRegisteredModel("ride-duration"));
    const signature = JSON.stringify({ inputs: "[]" });
    const v1 = await client.createModelVersion({
      name: "ride-duration",
      source: "s3://bucket/model",
      runId: run.id,
      signature,
      description: "first",
    });
    expect(v1).toMatchObject({ version: 1, runId: run.id, signature, description: "first" });
    const v2 = await client.createModelVersion({ name: "ride-duration", source: "/abs/model" });
    expect(v2).toMatchObject({ version: 2, runId: null, signature: null });
    await client.setAlias("ride-duration", "production", 1);
    await client.setAlias("ride-duration", "staging", 2);
    expect(await client.getModelVersionByAlias("ride-duration", "production")).toEqual(
      await local.getModelVersion("ride-duration", 1),
    );
    expect(await client.getModelVersion("ride-duration", 2)).toEqual(
      await local.getModelVersion("ride-duration", 2),
    );
    expect(await client.listModelVersions("ride-duration")).toEqual(
      await local.listModelVersions("ride-duration"),
    );
    await client.deleteAlias("ride-duration", "staging");
    expect(await client.getRegisteredModel("ride-duration")).toEqual(
      await local.getRegisteredModel("ride-duration"),
    );
    expect((await client.getRegisteredModel("ride-duration")).aliases).toEqual({ production: 1 });
    expect(await client.listRegisteredModels()).toEqual(await local.listRegisteredModels());
  });

  it("carries names URL paths treat specially: '/', '..', '?', '#', '%' and non-ASCII", async () => {
    const { client } = registry;
    for (const name of ["a/b", "..", ".", "what?#frag", "100%", "naïve 模型"]) {
      const experiment = await client.createExperiment(name);
      expect(await client.findExperimentByName(name)).toEqual(experiment);
      expect(experiment.name).toBe(name);
    }
    const run = await client.createRun({
      experimentId: (await client.createExperiment("keys")).id,
    });
    await client.logMetrics(run.id, [{ key: "eval/a b:c", value: 1 }]);
    expect(await client.getMetricHistory(run.id, "eval/a b:c")).toHaveLength(1);
  });

  it("carries names and keys as long as the store allows in URL paths", async () => {
    const { client } = registry;
    const name = `m${"x".repeat(255)}`;
    const alias = `a${"y".repeat(255)}`;
    await client.createModelVersion({ name, source: "s" });
    await client.setAlias(name, alias, 1);
    expect((await client.getModelVersionByAlias(name, alias)).name).toBe(name);
    const run = await client.createRun({
      experimentId: (await client.createExperiment("long keys")).id,
    });
    const key = "a:/".repeat(83) + "z"; // 250 characters, ~3× longer once percent-encoded
    await client.logMetrics(run.id, [{ key, value: 1 }]);
    expect(await client.getMetricHistory(run.id, key)).toHaveLength(1);
  });

  it("resolves a relative artifact location against the caller's working directory", async () => {
    const experiment = await registry.client.createExperiment("relative", {
      artifactLocation: "rel/dir",
    });
    expect(experiment.artifactLocation).toBe(path.resolve("rel/dir"));
  });

  it("sends NaN params as the text the store would make of them", async () => {
    const { client, local } = registry;
    const run = await client.createRun({
      experimentId: (await client.createExperiment("nan params")).id,
    });
    await client.logParams(run.id, { alpha: NaN, big: 1e21 });
    expect((await local.getRun(run.id)).params).toEqual({ alpha: "NaN", big: "1e+21" });
  });

  it("answers errors with the same RegistryError code and message as the local store", async () => {
    const { client, local } = registry;
    const experiment = await local.createExperiment("errors");
    const ended = await local.createRun({ experimentId: experiment.id });
    await local.logParams(ended.id, { lr: 0.1 });
    await local.endRun(ended.id, "FINISHED");
    const running = await local.createRun({ experimentId: experiment.id });
    await local.logParams(running.id, { lr: 0.1 });
    await local.createModelVersion({ name: "m", source: "x" });
    const unknown = "0".repeat(32);

    // The same call on both sides: the client must fail exactly as the store it fronts.
    const calls: [string, (store: typeof client | typeof local) => Promise<unknown>][] = [
      ["unknown experiment", (s) => s.getExperiment(unknown)],
      ["empty experiment id", (s) => s.getExperiment("")],
      ["dot experiment id", (s) => s.getExperiment("..")],
      ["duplicate experiment", (s) => s.createExperiment("errors")],
      ["empty experiment name", (s) => s.createExperiment("")],
      ["padded experiment name", (s) => s.findExperimentByName(" x")],
      ["bad tag key", (s) => s.createExperiment("t", { tags: { "../etc": "x" } })],
      ["unknown run", (s) => s.getRun(unknown)],
      ["empty run id", (s) => s.getRun("")],
      ["run in unknown experiment", (s) => s.createRun({ experimentId: unknown })],
      ["bad run list limit", (s) => s.listRuns({ limit: 0 })],
      ["fractional limit", (s) => s.listRuns({ limit: 1.5 })],
      ["runs of unknown experiment", (s) => s.listRuns({ experimentId: unknown })],
      ["changed param", (s) => s.logParams(running.id, { lr: 0.2 })],
      ["param too long", (s) => s.logParams(running.id, { big: "x".repeat(6001) })],
      ["params of ended run", (s) => s.logParams(ended.id, { p: 1 })],
      ["metrics of ended run", (s) => s.logMetrics(ended.id, [{ key: "m", value: 1 }])],
      ["NaN metric", (s) => s.logMetrics(running.id, [{ key: "rmse", value: NaN }])],
      ["infinite metric", (s) => s.logMetrics(running.id, [{ key: "rmse", value: Infinity }])],
      ["fractional step", (s) => s.logMetrics(running.id, [{ key: "ok", value: 1, step: 1.5 }])],
      ["bad metric key", (s) => s.logMetrics(running.id, [{ key: "bad key!", value: 1 }])],
      ["dot metric key", (s) => s.getMetricHistory(running.id, "..")],
      ["empty metric key", (s) => s.getMetricHistory(running.id, "")],
      ["long tag value", (s) => s.setRunTags(running.id, { t: "x".repeat(8001) })],
      ["end ended run", (s) => s.endRun(ended.id, "FAILED")],
      ["duplicate model", (s) => s.createRegisteredModel("m")],
      ["bad model name", (s) => s.createRegisteredModel("has space")],
      ["slash model name", (s) => s.getRegisteredModel("a/b")],
      ["empty model name", (s) => s.getRegisteredModel("")],
      ["dot model name", (s) => s.listModelVersions(".")],
      ["unknown model", (s) => s.getRegisteredModel("nope")],
      ["unknown version", (s) => s.getModelVersion("m", 7)],
      ["version 0", (s) => s.getModelVersion("m", 0)],
      ["fractional version", (s) => s.getModelVersion("m", 1.5)],
      ["bad signature", (s) => s.createModelVersion({ name: "m", source: "x", signature: "{" })],
      ["empty source", (s) => s.createModelVersion({ name: "m", source: "" })],
      [
        "version of unknown run",
        (s) => s.createModelVersion({ name: "m", source: "x", runId: unknown }),
      ],
      ["reserved alias", (s) => s.setAlias("m", "latest", 1)],
      ["alias to missing version", (s) => s.setAlias("m", "prod", 4)],
      ["alias of unknown model", (s) => s.setAlias("ghost", "prod", 1)],
      ["missing alias", (s) => s.getModelVersionByAlias("m", "champion")],
      ["delete missing alias", (s) => s.deleteAlias("m", "champion")],
      ["dot alias", (s) => s.deleteAlias("m", "..")],
    ];
    for (const [what, call] of calls) {
      const expected = await outcome(call(local));
      expect(expected, what).not.toBe("ok");
      expect(await outcome(call(client)), what).toEqual(expected);
    }
    // Thrown as RegistryError instances, so `instanceof` checks work on remote errors too.
    const error = await client.getRun(unknown).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toBeInstanceOf(UserError);
  });

  it("refuses RUNNING as an end status with INVALID_VALUE naming the field", async () => {
    const { client } = registry;
    const run = await client.createRun({ experimentId: (await client.createExperiment("end")).id });
    const status = "RUNNING" as "FINISHED";
    const error = await outcome(client.endRun(run.id, status));
    expect(error).toMatchObject({ code: "INVALID_VALUE" });
    expect(error !== "ok" && error.message).toMatch(/"status".*RUNNING/);
  });

  it("describes itself by URL, never showing the token", () => {
    const store = new HttpStore({ url: "http://registry.internal:5050/", token: "s3cret" });
    expect(store.description).toBe("http://registry.internal:5050 (bearer token)");
    expect(new HttpStore({ url: "https://r.example/base/api/v1", token: "" }).description).toBe(
      "https://r.example/base",
    );
    expect(() => new HttpStore({ url: "http://user:pw@host:5050" })).toThrow(
      /MLDEPLOY_REGISTRY_TOKEN/,
    );
    expect(() => new HttpStore({ url: "ftp://host" })).toThrow(UserError);
  });

  it("takes the token from MLDEPLOY_REGISTRY_TOKEN when none is given", () => {
    const previous = process.env.MLDEPLOY_REGISTRY_TOKEN;
    process.env.MLDEPLOY_REGISTRY_TOKEN = "from-env";
    try {
      expect(new HttpStore({ url: "http://h:1" }).description).toContain("(bearer token)");
    } finally {
      if (previous === undefined) delete process.env.MLDEPLOY_REGISTRY_TOKEN;
      else process.env.MLDEPLOY_REGISTRY_TOKEN = previous;
    }
  });
});

describe("HttpStore transport failures", () => {
  /** A port nothing listens on: bound, then released. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  function countingFetch(): { fetch: typeof fetch; calls: () => number } {
    let calls = 0;
    return {
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
      calls: () => calls,
    };
  }

  it("names the URL and MLDEPLOY_REGISTRY_URL when nothing listens; retries GETs only", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const counter = countingFetch();
    const store = new HttpStore({ url, fetch: counter.fetch, retries: 2, retryDelayMs: 5 });

    const error = await store.listExperiments().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).not.toBeInstanceOf(RegistryError);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toContain("ECONNREFUSED");
    expect((error as Error).message).toContain("MLDEPLOY_REGISTRY_URL");
    expect(counter.calls()).toBe(3);

    // A POST may have been applied before its connection broke: it is never sent twice.
    await expect(store.createExperiment("x")).rejects.toThrow(/ECONNREFUSED/);
    expect(counter.calls()).toBe(4);
  });

  it("gives up after timeoutMs when the server accepts but never answers", async () => {
    const sockets: import("node:net").Socket[] = [];
    const silent: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const store = new HttpStore({ url: `http://127.0.0.1:${port}`, timeoutMs: 150 });
      const started = Date.now();
      const error = await store.getRun("a".repeat(32)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(
        /did not answer GET \/api\/v1\/runs\/a+ within 150 ms/,
      );
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("reports an answer that is not the registry API's (wrong service on that port)", async () => {
    const fake: typeof fetch = async () =>
      new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" });
    const store = new HttpStore({ url: "http://proxy.example:8080", fetch: fake });
    await expect(store.listRegisteredModels()).rejects.toThrow(
      "the registry server at http://proxy.example:8080 answered 502 Bad Gateway to GET /api/v1/models: <html>Bad Gateway</html>",
    );
  });
});
