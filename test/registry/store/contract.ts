import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  DeploymentHeartbeat,
  MonitorResultRow,
  RegistryStore,
} from "../../../src/registry/store/types.js";
import { expectRegistryError, scratchDirs } from "./helpers.js";

export interface StoreFactoryOptions {
  artifactRoot: string;
}

/** Opens a fresh, empty store (its own file or schema) with the given artifact root. */
export type StoreFactory = (options: StoreFactoryOptions) => Promise<RegistryStore>;

const HEX32 = /^[0-9a-f]{32}$/;

/**
 * The RegistryStore contract: every implementation (SQLite, PostgreSQL, the HTTP client)
 * must pass the same tests. Each test gets a fresh empty store.
 */
export function describeStoreContract(name: string, makeStore: StoreFactory): void {
  describe(`RegistryStore contract: ${name}`, () => {
    let store: RegistryStore;
    let artifactRoot: string;
    const scratch = scratchDirs();

    beforeEach(async () => {
      artifactRoot = path.join(scratch(), "artifacts");
      store = await makeStore({ artifactRoot });
    });

    afterEach(async () => {
      await store.close();
    });

    async function newRun(tags?: Record<string, string>) {
      const experiment = await store.createExperiment(`exp-${Math.random()}`);
      return store.createRun({ experimentId: experiment.id, tags });
    }

    describe("experiments", () => {
      it("creates an experiment with an id, tags and a default artifact location", async () => {
        const before = Date.now();
        const created = await store.createExperiment("ride duration", { tags: { team: "ml" } });
        expect(created.id).toMatch(HEX32);
        expect(created.name).toBe("ride duration");
        expect(created.tags).toEqual({ team: "ml" });
        expect(created.artifactLocation).toBe(path.join(artifactRoot, created.id));
        expect(created.createdAt).toBeGreaterThanOrEqual(before);
        expect(created.createdAt).toBeLessThanOrEqual(Date.now());
        expect(await store.getExperiment(created.id)).toEqual(created);
      });

      it("keeps an explicit artifact location; a relative path is made absolute", async () => {
        const s3 = await store.createExperiment("s3", { artifactLocation: "s3://bucket/exp/" });
        expect(s3.artifactLocation).toBe("s3://bucket/exp");
        const local = await store.createExperiment("local", { artifactLocation: "rel/dir" });
        expect(local.artifactLocation).toBe(path.resolve("rel/dir"));
        expect((await store.getExperiment(local.id)).artifactLocation).toBe(local.artifactLocation);
      });

      it("finds an experiment by name, or returns undefined", async () => {
        const created = await store.createExperiment("findme");
        expect(await store.findExperimentByName("findme")).toEqual(created);
        expect(await store.findExperimentByName("nope")).toBeUndefined();
      });

      it("lists experiments in creation order", async () => {
        const names = ["b", "a", "c", "B"];
        for (const n of names) await store.createExperiment(n);
        expect((await store.listExperiments()).map((e) => e.name)).toEqual(names);
      });

      it("refuses a duplicate name with ALREADY_EXISTS", async () => {
        await store.createExperiment("dup");
        await expectRegistryError(store.createExperiment("dup"), "ALREADY_EXISTS", '"dup"');
        expect(await store.listExperiments()).toHaveLength(1);
      });

      it("reports an unknown experiment with NOT_FOUND", async () => {
        await expectRegistryError(store.getExperiment("0".repeat(32)), "NOT_FOUND", "0".repeat(32));
      });

      it("refuses invalid names and tags", async () => {
        await expectRegistryError(store.createExperiment(""), "INVALID_NAME", "experiment name");
        await expectRegistryError(store.createExperiment(" x"), "INVALID_NAME", '" x"');
        await expectRegistryError(
          store.createExperiment("ok", { tags: { "../etc": "x" } }),
          "INVALID_NAME",
          "tag key",
          "../etc",
        );
        expect(await store.listExperiments()).toEqual([]);
      });

      it("summarizes every experiment: run count and last activity (latest run start or end)", async () => {
        const busy = await store.createExperiment("busy", { tags: { team: "ml" } });
        const empty = await store.createExperiment("empty");
        const first = await store.createRun({ experimentId: busy.id, startTime: 5_000 });
        await store.endRun(first.id, "FINISHED", 9_000);
        // Started earlier, still running: the end of the first run is the last activity.
        await store.createRun({ experimentId: busy.id, startTime: 7_000 });
        await store.createRun({ experimentId: busy.id, startTime: 1_000 });
        const summaries = await store.listExperimentSummaries();
        expect(summaries.map((s) => s.name)).toEqual(["busy", "empty"]);
        const [busySummary, emptySummary] = summaries;
        // Runs predate the experiment's creation here, so the creation time wins for both.
        expect(busySummary).toEqual({ ...busy, runCount: 3, lastActivity: busy.createdAt });
        expect(emptySummary).toEqual({ ...empty, runCount: 0, lastActivity: empty.createdAt });

        const later = busy.createdAt + 60_000;
        await store.createRun({ experimentId: empty.id, startTime: later });
        const run = await store.createRun({ experimentId: busy.id, startTime: later });
        await store.endRun(run.id, "FAILED", later + 5);
        const again = await store.listExperimentSummaries();
        expect(again.map((s) => [s.runCount, s.lastActivity])).toEqual([
          [4, later + 5],
          [1, later],
        ]);
      });

      it("lists the distinct param, metric and tag keys of an experiment's runs", async () => {
        const experiment = await store.createExperiment("keys");
        const other = await store.createExperiment("other");
        const a = await store.createRun({ experimentId: experiment.id, tags: { "eval/set": "x" } });
        await store.logParams(a.id, { lr: "0.1", alpha: "0" });
        await store.logMetrics(a.id, [
          { key: "valid_rmse", value: 1, step: 0 },
          { key: "valid_rmse", value: 2, step: 1 },
        ]);
        const b = await store.createRun({ experimentId: experiment.id });
        await store.logParams(b.id, { alpha: "1", Depth: "3" });
        await store.logMetrics(b.id, [{ key: "r2", value: 0.5 }]);
        const elsewhere = await store.createRun({ experimentId: other.id, tags: { t: "1" } });
        await store.logParams(elsewhere.id, { beta: "2" });
        expect(await store.getExperimentKeys(experiment.id)).toEqual({
          params: ["Depth", "alpha", "lr"],
          metrics: ["r2", "valid_rmse"],
          tags: ["eval/set"],
        });
        expect(await store.getExperimentKeys(other.id)).toEqual({
          params: ["beta"],
          metrics: [],
          tags: ["t"],
        });
        await expectRegistryError(
          store.getExperimentKeys("0".repeat(32)),
          "NOT_FOUND",
          "0".repeat(32),
        );
      });
    });

    describe("runs", () => {
      it("creates a running run with a readable name and its artifact URI", async () => {
        const experiment = await store.createExperiment("runs");
        const before = Date.now();
        const run = await store.createRun({ experimentId: experiment.id, tags: { git: "abc" } });
        expect(run).toMatchObject({
          experimentId: experiment.id,
          status: "RUNNING",
          endTime: null,
          params: {},
          tags: { git: "abc" },
          latestMetrics: {},
        });
        expect(run.id).toMatch(HEX32);
        expect(run.name).toMatch(/^[a-z]+-[a-z]+-\d{3}$/);
        expect(run.startTime).toBeGreaterThanOrEqual(before);
        expect(run.artifactUri).toBe(path.join(experiment.artifactLocation, run.id, "artifacts"));
        expect(await store.getRun(run.id)).toEqual(run);
      });

      it("uses the given name and start time", async () => {
        const experiment = await store.createExperiment("named");
        const run = await store.createRun({
          experimentId: experiment.id,
          name: "baseline",
          startTime: 1_700_000_000_000,
        });
        expect(await store.getRun(run.id)).toMatchObject({
          name: "baseline",
          startTime: 1_700_000_000_000,
        });
      });

      it("joins URI artifact locations with '/'", async () => {
        const experiment = await store.createExperiment("s3", {
          artifactLocation: "s3://bucket/prefix",
        });
        const run = await store.createRun({ experimentId: experiment.id });
        expect(run.artifactUri).toBe(`s3://bucket/prefix/${run.id}/artifacts`);
      });

      it("refuses a run in an unknown experiment", async () => {
        await expectRegistryError(
          store.createRun({ experimentId: "f".repeat(32) }),
          "NOT_FOUND",
          `experiment "${"f".repeat(32)}"`,
        );
      });

      it("lists runs newest first, filtered by experiment and status, limited", async () => {
        const a = await store.createExperiment("a");
        const b = await store.createExperiment("b");
        const old = await store.createRun({ experimentId: a.id, name: "old", startTime: 1000 });
        const tie1 = await store.createRun({ experimentId: a.id, name: "tie1", startTime: 2000 });
        const tie2 = await store.createRun({ experimentId: b.id, name: "tie2", startTime: 2000 });
        const newest = await store.createRun({ experimentId: b.id, name: "new", startTime: 3000 });
        await store.endRun(tie1.id, "FINISHED");
        const names = (runs: { name: string }[]) => runs.map((r) => r.name);

        expect(names(await store.listRuns())).toEqual(["new", "tie2", "tie1", "old"]);
        expect(names(await store.listRuns({ experimentId: a.id }))).toEqual(["tie1", "old"]);
        expect(names(await store.listRuns({ status: "FINISHED" }))).toEqual(["tie1"]);
        expect(names(await store.listRuns({ status: "RUNNING", limit: 2 }))).toEqual([
          "new",
          "tie2",
        ]);
        const [first] = await store.listRuns({ limit: 1 });
        expect(first).toEqual(await store.getRun(newest.id));
        expect(old.id).not.toBe(tie2.id);
        await expectRegistryError(
          store.listRuns({ experimentId: "e".repeat(32) }),
          "NOT_FOUND",
          "e".repeat(32),
        );
        await expectRegistryError(store.listRuns({ limit: 0 }), "INVALID_VALUE", "limit");
      });

      it("lists runs with their params, tags and latest metrics", async () => {
        const run = await newRun({ t: "1" });
        await store.logParams(run.id, { p: 1 });
        await store.logMetrics(run.id, [{ key: "m", value: 0.5 }]);
        const [listed] = await store.listRuns({ experimentId: run.experimentId });
        expect(listed).toMatchObject({
          params: { p: "1" },
          tags: { t: "1" },
          latestMetrics: { m: 0.5 },
        });
      });

      it("reports unknown runs with NOT_FOUND naming the id, for every run method", async () => {
        const id = "a".repeat(32);
        const calls: (() => Promise<unknown>)[] = [
          () => store.getRun(id),
          () => store.logParams(id, { a: 1 }),
          () => store.logMetrics(id, [{ key: "m", value: 1 }]),
          () => store.getMetricHistory(id, "m"),
          () => store.setRunTags(id, { a: "b" }),
          () => store.endRun(id, "FINISHED"),
        ];
        for (const call of calls) await expectRegistryError(call(), "NOT_FOUND", `run "${id}"`);
      });
    });

    describe("params", () => {
      it("stores params as strings; re-logging the same value is fine", async () => {
        const run = await newRun();
        await store.logParams(run.id, { lr: 0.1, epochs: 10, shuffle: true, solver: "lsqr" });
        await store.logParams(run.id, { lr: "0.1", alpha: 1 });
        expect((await store.getRun(run.id)).params).toEqual({
          lr: "0.1",
          epochs: "10",
          shuffle: "true",
          solver: "lsqr",
          alpha: "1",
        });
      });

      it("refuses to change a param, naming it, and logs nothing of that call", async () => {
        const run = await newRun();
        await store.logParams(run.id, { lr: 0.1 });
        await expectRegistryError(
          store.logParams(run.id, { fresh: "x", lr: 0.2 }),
          "INVALID_VALUE",
          '"lr"',
          "0.1",
          "0.2",
        );
        expect((await store.getRun(run.id)).params).toEqual({ lr: "0.1" });
      });

      it("validates keys and value lengths", async () => {
        const run = await newRun();
        await expectRegistryError(
          store.logParams(run.id, { "a/../b": 1 }),
          "INVALID_NAME",
          "a/../b",
        );
        await expectRegistryError(store.logParams(run.id, { "/abs": 1 }), "INVALID_NAME", "/abs");
        await expectRegistryError(
          store.logParams(run.id, { big: "x".repeat(6001) }),
          "INVALID_VALUE",
          '"big"',
        );
        await store.logParams(run.id, { "eval/max": "x".repeat(6000) });
        expect(Object.keys((await store.getRun(run.id)).params)).toEqual(["eval/max"]);
      });
    });

    describe("metrics", () => {
      it("keeps the history ordered by step, with default step 0 and timestamp now", async () => {
        const run = await newRun();
        const before = Date.now();
        await store.logMetrics(run.id, [{ key: "loss", value: 3 }]);
        await store.logMetrics(run.id, [
          { key: "loss", value: 1, step: 2, timestamp: 500 },
          { key: "loss", value: 2, step: 1, timestamp: 600 },
          { key: "acc", value: 0.9, step: 1, timestamp: 600 },
        ]);
        const history = await store.getMetricHistory(run.id, "loss");
        expect(history.map((p) => [p.value, p.step])).toEqual([
          [3, 0],
          [2, 1],
          [1, 2],
        ]);
        expect(history[0].timestamp).toBeGreaterThanOrEqual(before);
        expect(history[1]).toEqual({ key: "loss", value: 2, step: 1, timestamp: 600 });
        expect(await store.getMetricHistory(run.id, "absent")).toEqual([]);
      });

      it("keeps repeated points at the same step, in logging order", async () => {
        const run = await newRun();
        await store.logMetrics(run.id, [{ key: "m", value: 1, step: 5, timestamp: 10 }]);
        await store.logMetrics(run.id, [{ key: "m", value: 2, step: 5, timestamp: 10 }]);
        const history = await store.getMetricHistory(run.id, "m");
        expect(history.map((p) => p.value)).toEqual([1, 2]);
        expect((await store.getRun(run.id)).latestMetrics).toEqual({ m: 2 });
      });

      it("takes the latest value by highest step, then latest timestamp", async () => {
        const run = await newRun();
        await store.logMetrics(run.id, [
          { key: "a", value: 10, step: 10, timestamp: 1 },
          { key: "b", value: 1, step: 3, timestamp: 200 },
        ]);
        // A lower step logged later does not replace a higher step; a later timestamp at
        // the same step does; an earlier timestamp at the same step does not.
        await store.logMetrics(run.id, [
          { key: "a", value: 5, step: 9, timestamp: 999 },
          { key: "b", value: 2, step: 3, timestamp: 300 },
        ]);
        await store.logMetrics(run.id, [{ key: "b", value: 3, step: 3, timestamp: 250 }]);
        expect((await store.getRun(run.id)).latestMetrics).toEqual({ a: 10, b: 2 });
        await store.logMetrics(run.id, [{ key: "a", value: -1.5, step: 11, timestamp: 0 }]);
        expect((await store.getRun(run.id)).latestMetrics).toEqual({ a: -1.5, b: 2 });
      });

      it("logs a large batch in one call", async () => {
        const run = await newRun();
        const points = Array.from({ length: 1500 }, (_, i) => ({ key: "x", value: i, step: i }));
        await store.logMetrics(run.id, points);
        expect(await store.getMetricHistory(run.id, "x")).toHaveLength(1500);
        expect((await store.getRun(run.id)).latestMetrics).toEqual({ x: 1499 });
      });

      it("refuses non-finite values, bad keys and bad steps, naming the key", async () => {
        const run = await newRun();
        for (const value of [NaN, Infinity, -Infinity]) {
          await expectRegistryError(
            store.logMetrics(run.id, [{ key: "rmse", value }]),
            "INVALID_VALUE",
            '"rmse"',
          );
        }
        await expectRegistryError(
          store.logMetrics(run.id, [{ key: "ok", value: 1, step: 1.5 }]),
          "INVALID_VALUE",
          '"ok" step',
        );
        await expectRegistryError(
          store.logMetrics(run.id, [{ key: "bad key!", value: 1 }]),
          "INVALID_NAME",
          "bad key!",
        );
        expect(await store.getMetricHistory(run.id, "ok")).toEqual([]);
      });
    });

    describe("tags and ending runs", () => {
      it("sets and overwrites run tags, also after the run ended", async () => {
        const run = await newRun({ a: "1" });
        await store.setRunTags(run.id, { a: "2", b: "3" });
        await store.endRun(run.id, "FINISHED");
        await store.setRunTags(run.id, { review: "ok" });
        expect((await store.getRun(run.id)).tags).toEqual({ a: "2", b: "3", review: "ok" });
        await expectRegistryError(
          store.setRunTags(run.id, { t: "x".repeat(8001) }),
          "INVALID_VALUE",
          '"t"',
        );
      });

      it("ends a run with a status and end time", async () => {
        const run = await newRun();
        const ended = await store.endRun(run.id, "FAILED", 1_800_000_000_000);
        expect(ended).toMatchObject({ status: "FAILED", endTime: 1_800_000_000_000 });
        expect(await store.getRun(run.id)).toEqual(ended);
        const other = await newRun();
        const before = Date.now();
        const killed = await store.endRun(other.id, "KILLED");
        expect(killed.status).toBe("KILLED");
        expect(killed.endTime).toBeGreaterThanOrEqual(before);
      });

      it("refuses logging to, or ending again, an ended run with INVALID_STATE", async () => {
        const run = await newRun();
        await store.endRun(run.id, "FINISHED");
        await expectRegistryError(
          store.logMetrics(run.id, [{ key: "m", value: 1 }]),
          "INVALID_STATE",
          run.id,
          "FINISHED",
        );
        await expectRegistryError(store.logParams(run.id, { p: 1 }), "INVALID_STATE", run.id);
        await expectRegistryError(store.endRun(run.id, "FAILED"), "INVALID_STATE", run.id);
        expect((await store.getRun(run.id)).status).toBe("FINISHED");
      });

      it("refuses RUNNING as an end status", async () => {
        const run = await newRun();
        const status = "RUNNING" as "FINISHED";
        await expectRegistryError(store.endRun(run.id, status), "INVALID_VALUE", "RUNNING");
      });
    });

    describe("registered models and versions", () => {
      it("creates a registered model; a duplicate is ALREADY_EXISTS", async () => {
        const model = await store.createRegisteredModel("ride-duration", "NYC taxi rides");
        expect(model).toMatchObject({
          name: "ride-duration",
          description: "NYC taxi rides",
          latestVersion: null,
          aliases: {},
        });
        expect(await store.getRegisteredModel("ride-duration")).toEqual(model);
        await expectRegistryError(
          store.createRegisteredModel("ride-duration"),
          "ALREADY_EXISTS",
          '"ride-duration"',
        );
      });

      it("refuses invalid model names with INVALID_NAME", async () => {
        for (const bad of ["", "has space", "-lead", "a/b", "a@b", "x".repeat(257)]) {
          await expectRegistryError(store.createRegisteredModel(bad), "INVALID_NAME", "model name");
        }
      });

      it("lists registered models by name", async () => {
        for (const n of ["b", "a", "C", "a.2"]) await store.createRegisteredModel(n);
        expect((await store.listRegisteredModels()).map((m) => m.name)).toEqual([
          "C",
          "a",
          "a.2",
          "b",
        ]);
      });

      it("numbers versions 1, 2, 3, creating the model on first registration", async () => {
        const run = await newRun();
        const signature = JSON.stringify({ inputs: "[]" });
        const v1 = await store.createModelVersion({
          name: "m",
          source: "runs:/x/model",
          runId: run.id,
          signature,
          description: "first",
        });
        expect(v1).toMatchObject({
          name: "m",
          version: 1,
          runId: run.id,
          source: "runs:/x/model",
          signature,
          description: "first",
          aliases: [],
        });
        const v2 = await store.createModelVersion({ name: "m", source: "s3://b/k" });
        const v3 = await store.createModelVersion({ name: "m", source: "/abs/model" });
        expect([v2.version, v3.version]).toEqual([2, 3]);
        expect(v2).toMatchObject({ runId: null, signature: null, description: "" });
        expect(await store.getModelVersion("m", 1)).toEqual(v1);
        expect(await store.listModelVersions("m")).toEqual([v1, v2, v3]);
        const model = await store.getRegisteredModel("m");
        expect(model).toMatchObject({ latestVersion: 3, description: "" });
        expect(model.updatedAt).toBeGreaterThanOrEqual(model.createdAt);
      });

      it("numbers each model's versions separately", async () => {
        await store.createRegisteredModel("one");
        await store.createModelVersion({ name: "one", source: "a" });
        await store.createModelVersion({ name: "one", source: "b" });
        const other = await store.createModelVersion({ name: "two", source: "c" });
        expect(other.version).toBe(1);
      });

      it("refuses a version of an unknown run, leaving nothing behind", async () => {
        const id = "b".repeat(32);
        await expectRegistryError(
          store.createModelVersion({ name: "orphan", source: "x", runId: id }),
          "NOT_FOUND",
          id,
        );
        await expectRegistryError(store.getRegisteredModel("orphan"), "NOT_FOUND", '"orphan"');
        await expectRegistryError(
          store.createModelVersion({ name: "orphan", source: "x", signature: "{not json" }),
          "INVALID_VALUE",
          "signature",
        );
        await expectRegistryError(
          store.createModelVersion({ name: "orphan", source: "" }),
          "INVALID_VALUE",
          "source",
        );
      });

      it("reports unknown models and versions with NOT_FOUND naming them", async () => {
        await expectRegistryError(store.getRegisteredModel("nope"), "NOT_FOUND", '"nope"');
        await expectRegistryError(store.listModelVersions("nope"), "NOT_FOUND", '"nope"');
        await expectRegistryError(store.getModelVersion("nope", 1), "NOT_FOUND", '"nope"');
        await store.createModelVersion({ name: "ride-duration", source: "x" });
        await expectRegistryError(
          store.getModelVersion("ride-duration", 7),
          "NOT_FOUND",
          'registered model "ride-duration" has no version 7',
        );
        await expectRegistryError(
          store.getModelVersion("ride-duration", 0),
          "INVALID_VALUE",
          "version",
        );
      });
    });

    describe("model version tags", () => {
      it("keeps tags given at registration; versions without any have {}", async () => {
        const v1 = await store.createModelVersion({
          name: "m",
          source: "a",
          tags: { validated: "true", "team/owner": "rides" },
        });
        const v2 = await store.createModelVersion({ name: "m", source: "b" });
        expect(v1.tags).toEqual({ "team/owner": "rides", validated: "true" });
        expect(v2.tags).toEqual({});
        expect(await store.getModelVersion("m", 1)).toEqual(v1);
        expect((await store.listModelVersions("m")).map((v) => v.tags)).toEqual([v1.tags, {}]);
      });

      it("sets, overwrites and deletes tags of one version only", async () => {
        await store.createModelVersion({ name: "m", source: "a", tags: { stage: "dev" } });
        await store.createModelVersion({ name: "m", source: "b", tags: { stage: "dev" } });
        await store.setAlias("m", "production", 1);
        const before = await store.getRegisteredModel("m");
        await store.setModelVersionTags("m", 1, { stage: "prod", "eval/rmse": "5.2" });
        expect((await store.getModelVersion("m", 1)).tags).toEqual({
          "eval/rmse": "5.2",
          stage: "prod",
        });
        expect((await store.getModelVersion("m", 2)).tags).toEqual({ stage: "dev" });
        expect((await store.getModelVersionByAlias("m", "production")).tags).toEqual({
          "eval/rmse": "5.2",
          stage: "prod",
        });
        expect((await store.getRegisteredModel("m")).updatedAt).toBeGreaterThanOrEqual(
          before.updatedAt,
        );

        await store.deleteModelVersionTag("m", 1, "eval/rmse");
        expect((await store.getModelVersion("m", 1)).tags).toEqual({ stage: "prod" });
        await expectRegistryError(
          store.deleteModelVersionTag("m", 1, "eval/rmse"),
          "NOT_FOUND",
          '"eval/rmse"',
        );
      });

      it("refuses tags of a missing version or model, and bad keys or values", async () => {
        await store.createModelVersion({ name: "m", source: "a" });
        await expectRegistryError(
          store.setModelVersionTags("m", 2, { k: "v" }),
          "NOT_FOUND",
          'registered model "m" has no version 2',
        );
        await expectRegistryError(
          store.setModelVersionTags("ghost", 1, { k: "v" }),
          "NOT_FOUND",
          '"ghost"',
        );
        await expectRegistryError(
          store.deleteModelVersionTag("m", 2, "k"),
          "NOT_FOUND",
          "has no version 2",
        );
        await expectRegistryError(
          store.setModelVersionTags("m", 1, { "bad key!": "v" }),
          "INVALID_NAME",
          "tag key",
        );
        await expectRegistryError(
          store.setModelVersionTags("m", 1, { k: 3 as unknown as string }),
          "INVALID_VALUE",
          "tag",
        );
        await expectRegistryError(
          store.createModelVersion({ name: "m", source: "b", tags: { "../x": "v" } }),
          "INVALID_NAME",
          "tag key",
        );
        // The refused registration took no version number's row with it.
        expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual([1]);
        expect((await store.getModelVersion("m", 1)).tags).toEqual({});
      });
    });

    describe("aliases", () => {
      async function threeVersions(): Promise<void> {
        for (let i = 0; i < 3; i++) await store.createModelVersion({ name: "m", source: `s${i}` });
      }

      it("points an alias at a version, and moves it", async () => {
        await threeVersions();
        await store.setAlias("m", "production", 1);
        await store.setAlias("m", "staging", 2);
        expect((await store.getModelVersionByAlias("m", "production")).version).toBe(1);
        expect((await store.getRegisteredModel("m")).aliases).toEqual({
          production: 1,
          staging: 2,
        });

        await store.setAlias("m", "production", 2);
        expect((await store.getModelVersionByAlias("m", "production")).version).toBe(2);
        const versions = await store.listModelVersions("m");
        expect(versions.map((v) => v.aliases)).toEqual([[], ["production", "staging"], []]);
        expect((await store.getModelVersion("m", 2)).aliases).toEqual(["production", "staging"]);
        expect((await store.getRegisteredModel("m")).aliases).toEqual({
          production: 2,
          staging: 2,
        });
      });

      it("deletes an alias; a missing one is NOT_FOUND naming it", async () => {
        await threeVersions();
        await store.setAlias("m", "champion", 3);
        await store.deleteAlias("m", "champion");
        expect((await store.getRegisteredModel("m")).aliases).toEqual({});
        expect((await store.getModelVersion("m", 3)).aliases).toEqual([]);
        await expectRegistryError(
          store.getModelVersionByAlias("m", "champion"),
          "NOT_FOUND",
          '"m" has no alias "champion"',
        );
        await expectRegistryError(store.deleteAlias("m", "champion"), "NOT_FOUND", '"champion"');
      });

      it("refuses an alias to a missing version or model", async () => {
        await threeVersions();
        await expectRegistryError(
          store.setAlias("m", "production", 4),
          "NOT_FOUND",
          'registered model "m" has no version 4',
        );
        await expectRegistryError(store.setAlias("ghost", "production", 1), "NOT_FOUND", '"ghost"');
        await expectRegistryError(
          store.getModelVersionByAlias("ghost", "production"),
          "NOT_FOUND",
          '"ghost"',
        );
        await expectRegistryError(store.deleteAlias("ghost", "production"), "NOT_FOUND", '"ghost"');
        expect((await store.getRegisteredModel("m")).aliases).toEqual({});
      });

      it("refuses reserved and malformed alias names with INVALID_NAME", async () => {
        await threeVersions();
        for (const bad of ["latest", "LATEST", "v1", "V12", "", "a b", "x/y"]) {
          await expectRegistryError(store.setAlias("m", bad, 1), "INVALID_NAME", "alias");
        }
        await store.setAlias("m", "v1-candidate", 1);
        await store.setAlias("m", "1", 1);
        expect(Object.keys((await store.getRegisteredModel("m")).aliases)).toEqual([
          "1",
          "v1-candidate",
        ]);
      });
    });

    describe("deployments", () => {
      const beat = (over: Partial<DeploymentHeartbeat> = {}): DeploymentHeartbeat => ({
        id: "a".repeat(32),
        mode: "serve",
        host: "box-1",
        pid: 4242,
        endpoint: "http://127.0.0.1:9696",
        modelUri: "models:/m@production",
        modelName: "m",
        modelVersion: "1",
        versionSince: 1_000,
        startedAt: 1_000,
        rate: 12.5,
        intervalMs: 10_000,
        ...over,
      });

      it("lists a reported deployment with the registry's beat time; a beat updates it", async () => {
        const before = Date.now();
        await store.reportDeployment(beat());
        const [listed] = await store.listDeployments();
        expect(listed).toMatchObject({ ...beat(), follows: "production" });
        expect(listed.lastBeatAt).toBeGreaterThanOrEqual(before);
        expect(listed.lastBeatAt).toBeLessThanOrEqual(Date.now());

        await store.reportDeployment(beat({ modelVersion: "2", versionSince: 2_000, rate: 0 }));
        const again = await store.listDeployments();
        expect(again).toHaveLength(1);
        expect(again[0]).toMatchObject({ modelVersion: "2", versionSince: 2_000, rate: 0 });
      });

      it("compares what an alias deployment runs with where the alias points now", async () => {
        for (let i = 0; i < 2; i++) await store.createModelVersion({ name: "m", source: `s${i}` });
        await store.setAlias("m", "production", 1);
        await store.reportDeployment(beat());
        await store.reportDeployment(
          beat({ id: "b".repeat(32), modelUri: "models:/m/1", startedAt: 500 }),
        );
        await store.reportDeployment(
          beat({ id: "c".repeat(32), modelUri: "models:/m/latest", startedAt: 400 }),
        );
        const byId = async () =>
          Object.fromEntries((await store.listDeployments()).map((d) => [d.id[0], d]));
        let listed = await byId();
        expect(listed.a).toMatchObject({ follows: "production", targetVersion: 1, lagging: false });
        expect(listed.b).toMatchObject({ follows: null, targetVersion: null, lagging: false });
        expect(listed.c).toMatchObject({ follows: "latest", targetVersion: 2, lagging: true });

        await store.setAlias("m", "production", 2);
        listed = await byId();
        expect(listed.a).toMatchObject({ modelVersion: "1", targetVersion: 2, lagging: true });
        await store.reportDeployment(beat({ modelVersion: "2" }));
        expect((await byId()).a).toMatchObject({ targetVersion: 2, lagging: false });
        // Newest start first.
        expect((await store.listDeployments()).map((d) => d.id[0])).toEqual(["a", "b", "c"]);
      });

      it("drops a deployment that stopped beating, and removes one that says goodbye", async () => {
        await store.reportDeployment(beat({ id: "d".repeat(32), intervalMs: 20 }));
        await store.reportDeployment(beat({ mode: "stream", endpoint: "nats://x/s (group g)" }));
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect((await store.listDeployments()).map((d) => d.mode)).toEqual(["stream"]);
        await store.removeDeployment("a".repeat(32));
        expect(await store.listDeployments()).toEqual([]);
        // Again, or one never seen: not an error (it may have been swept as stale).
        await store.removeDeployment("a".repeat(32));
      });

      it("refuses a malformed heartbeat naming the field", async () => {
        await expectRegistryError(
          store.reportDeployment(beat({ id: "nope" })),
          "INVALID_VALUE",
          "id",
        );
        await expectRegistryError(
          store.reportDeployment(beat({ intervalMs: 0 })),
          "INVALID_VALUE",
          "intervalMs",
        );
        await expectRegistryError(
          store.reportDeployment(beat({ rate: -1 })),
          "INVALID_VALUE",
          "rate",
        );
        await expectRegistryError(
          store.reportDeployment(beat({ host: "" })),
          "INVALID_VALUE",
          "host",
        );
        await expectRegistryError(store.removeDeployment("x"), "INVALID_VALUE", "id");
        expect(await store.listDeployments()).toEqual([]);
      });
    });

    describe("monitoring results", () => {
      const HOUR = 3_600_000;
      const T0 = Date.UTC(2026, 11, 7, 8);
      const RUN = "f".repeat(32);
      const row = (over: Partial<MonitorResultRow> = {}): MonitorResultRow => ({
        model: "ride-duration",
        version: "1",
        windowStart: T0,
        windowEnd: T0 + HOUR,
        metric: "drift_share",
        column: "",
        value: 0.25,
        runId: RUN,
        ...over,
      });
      /** Model-level and per-column rows of one window. */
      const windowRows = (hour: number, version = "1"): MonitorResultRow[] => {
        const at = { version, windowStart: T0 + hour * HOUR, windowEnd: T0 + (hour + 1) * HOUR };
        return [
          row({ ...at, metric: "drift_share", value: hour / 10 }),
          row({ ...at, metric: "rmse", value: 5 + hour }),
          row({ ...at, metric: "drift_score", column: "trip_distance", value: 0.01 * hour }),
          row({ ...at, metric: "drift_score", column: "PU_DO", value: 0.02 * hour }),
        ];
      };

      it("stores rows and answers them newest window first, then metric and column", async () => {
        await store.putMonitorResults([...windowRows(0), ...windowRows(2), ...windowRows(1)]);
        const found = await store.searchMonitorResults({ model: "ride-duration" });
        expect(found).toHaveLength(12);
        expect(found.slice(0, 4)).toEqual([
          row({
            windowStart: T0 + 2 * HOUR,
            windowEnd: T0 + 3 * HOUR,
            metric: "drift_score",
            column: "PU_DO",
            value: 0.04,
          }),
          row({
            windowStart: T0 + 2 * HOUR,
            windowEnd: T0 + 3 * HOUR,
            metric: "drift_score",
            column: "trip_distance",
            value: 0.02,
          }),
          row({
            windowStart: T0 + 2 * HOUR,
            windowEnd: T0 + 3 * HOUR,
            metric: "drift_share",
            value: 0.2,
          }),
          row({ windowStart: T0 + 2 * HOUR, windowEnd: T0 + 3 * HOUR, metric: "rmse", value: 7 }),
        ]);
        expect(found.map((r) => r.windowStart)).toEqual(
          [2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0].map((h) => T0 + h * HOUR),
        );
        expect(await store.searchMonitorResults({ model: "other" })).toEqual([]);
      });

      it("replaces the rows of a window when it is monitored again", async () => {
        await store.putMonitorResults(windowRows(0));
        const rerun = "e".repeat(32);
        await store.putMonitorResults([
          row({ metric: "drift_share", value: 0.75, runId: rerun }),
          row({ metric: "rmse", value: null, runId: null }),
        ]);
        const found = await store.searchMonitorResults({ model: "ride-duration", column: "" });
        expect(found).toEqual([
          row({ metric: "drift_share", value: 0.75, runId: rerun }),
          row({ metric: "rmse", value: null, runId: null }),
        ]);
        // The per-column rows the rerun did not touch stay.
        expect(await store.searchMonitorResults({ model: "ride-duration" })).toHaveLength(4);
        // A key repeated within one put: the last row wins.
        await store.putMonitorResults([row({ value: 1 }), row({ value: 0.5 })]);
        const [share] = await store.searchMonitorResults({
          model: "ride-duration",
          metrics: ["drift_share"],
        });
        expect(share.value).toBe(0.5);
      });

      it("keeps null values and exact numbers", async () => {
        await store.putMonitorResults([
          row({ metric: "rmse", value: null }),
          row({ metric: "bias", value: -0.1 + 0.2 / 3 }),
          row({ metric: "rows", value: 9_007_199_254_740_991 }),
        ]);
        const found = await store.searchMonitorResults({ model: "ride-duration" });
        expect(Object.fromEntries(found.map((r) => [r.metric, r.value]))).toEqual({
          rmse: null,
          bias: -0.1 + 0.2 / 3,
          rows: 9_007_199_254_740_991,
        });
      });

      it("filters by version, metrics, column and time, and limits", async () => {
        await store.putMonitorResults([
          ...windowRows(0),
          ...windowRows(1),
          ...windowRows(2),
          ...windowRows(1, "2"),
        ]);
        const search = (query: Partial<Parameters<RegistryStore["searchMonitorResults"]>[0]>) =>
          store.searchMonitorResults({ model: "ride-duration", ...query });
        expect(await search({ version: "2" })).toHaveLength(4);
        expect((await search({ version: "2" })).every((r) => r.version === "2")).toBe(true);
        const rmse = await search({ metrics: ["rmse"] });
        expect(rmse.map((r) => [r.version, r.value])).toEqual([
          ["1", 7],
          ["1", 6],
          ["2", 6],
          ["1", 5],
        ]);
        expect((await search({ metrics: ["rmse", "drift_share"], version: "1" })).length).toBe(6);
        expect(await search({ metrics: [] })).toEqual([]);
        const model = await search({ column: "", version: "1" });
        expect(model.every((r) => r.column === "")).toBe(true);
        expect(model).toHaveLength(6);
        const column = await search({ column: "PU_DO", version: "1" });
        expect(column.map((r) => r.value)).toEqual([0.04, 0.02, 0]);
        // Windows ending after `from` and starting before `to`: hour 1 only.
        const hour1 = await search({ from: T0 + HOUR, to: T0 + 2 * HOUR });
        expect(new Set(hour1.map((r) => r.windowStart))).toEqual(new Set([T0 + HOUR]));
        expect(hour1).toHaveLength(8);
        expect(await search({ from: T0 + 3 * HOUR })).toEqual([]);
        const limited = await search({ limit: 3 });
        expect(limited.map((r) => [r.windowStart, r.metric, r.column])).toEqual([
          [T0 + 2 * HOUR, "drift_score", "PU_DO"],
          [T0 + 2 * HOUR, "drift_score", "trip_distance"],
          [T0 + 2 * HOUR, "drift_share", ""],
        ]);
      });

      it("keeps only each version's newest windows with windowsPerVersion, ranked per version", async () => {
        // Version 1: hours 0–4; version 2: hours 1 and 3 (and a longer window also ending at 4).
        await store.putMonitorResults([
          ...[0, 1, 2, 3, 4].flatMap((hour) => windowRows(hour)),
          ...windowRows(1, "2"),
          ...windowRows(3, "2"),
          row({ version: "2", windowStart: T0, windowEnd: T0 + 4 * HOUR, metric: "rmse" }),
        ]);
        const search = (query: Partial<Parameters<RegistryStore["searchMonitorResults"]>[0]>) =>
          store.searchMonitorResults({ model: "ride-duration", ...query });
        const windows = (rows: MonitorResultRow[]) => [
          ...new Set(
            rows.map(
              (r) => `${r.version}:${(r.windowStart - T0) / HOUR}-${(r.windowEnd - T0) / HOUR}`,
            ),
          ),
        ];
        const newest2 = await search({ column: "", windowsPerVersion: 2 });
        // Newest by end (then start) within each version; every row of a kept window.
        expect(windows(newest2)).toEqual(["1:4-5", "1:3-4", "2:3-4", "2:0-4"]);
        expect(newest2).toHaveLength(2 + 2 + 2 + 1);
        expect(newest2.every((r) => r.column === "")).toBe(true);
        // The other filters apply before the ranking: version 2's newest rmse windows.
        const rmse = await search({ metrics: ["drift_share"], windowsPerVersion: 1 });
        expect(windows(rmse)).toEqual(["1:4-5", "2:3-4"]);
        expect(windows(await search({ version: "1", windowsPerVersion: 10 }))).toHaveLength(5);
        // The row limit still applies after it.
        expect(await search({ windowsPerVersion: 2, limit: 3 })).toHaveLength(3);
        await expectRegistryError(
          search({ windowsPerVersion: 0 }),
          "INVALID_VALUE",
          "windowsPerVersion",
        );
      });

      it("refuses a malformed row naming it, and writes none of the put", async () => {
        const cases: [Partial<MonitorResultRow>, string][] = [
          [{ model: "" }, "rows[1].model"],
          [{ windowEnd: T0 }, "rows[1].windowEnd"],
          [{ windowStart: -1 }, "rows[1].windowStart"],
          [{ value: Number.NaN }, "rows[1].value"],
          [{ value: Number.POSITIVE_INFINITY }, "rows[1].value"],
          [{ runId: "nope" }, "rows[1].runId"],
          [{ metric: "a\nb" }, "rows[1].metric"],
        ];
        for (const [over, field] of cases) {
          await expectRegistryError(
            store.putMonitorResults([row(), row({ metric: "rmse", ...over })]),
            "INVALID_VALUE",
            field,
          );
        }
        expect(await store.searchMonitorResults({ model: "ride-duration" })).toEqual([]);
        await expectRegistryError(
          store.searchMonitorResults({ model: "ride-duration", limit: 0 }),
          "INVALID_VALUE",
          "limit",
        );
        await expectRegistryError(
          store.searchMonitorResults({ model: "" }),
          "INVALID_VALUE",
          "model",
        );
      });
    });
  });
}
