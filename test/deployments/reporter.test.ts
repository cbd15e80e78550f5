import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  reportsHeartbeats,
  startDeploymentReporter,
} from "../../src/registry/deployments/reporter.js";
import { HttpStore } from "../../src/registry/store/http-store.js";
import { capturingLogger, startRegistry, type TestRegistry } from "../registry/server/helpers.js";

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(() => registry?.close());

const settings = {
  mode: "serve" as const,
  endpoint: "http://127.0.0.1:9696",
  modelUri: "models:/m@production",
  modelName: "m",
  modelVersion: "1",
  intervalMs: 50,
};

describe("deployment reporter", () => {
  it("reports registry URIs only", () => {
    expect(reportsHeartbeats("models:/m@production")).toBe(true);
    expect(reportsHeartbeats("models:/m/3")).toBe(true);
    expect(reportsHeartbeats(`runs:/${"a".repeat(32)}/model`)).toBe(true);
    expect(reportsHeartbeats("./model")).toBe(false);
    expect(reportsHeartbeats("s3://bucket/model")).toBe(false);
    expect(reportsHeartbeats("models:/")).toBe(false);
  });

  it("beats at once, reports a new version at once with its time, and says goodbye", async () => {
    const { logger } = capturingLogger();
    let count = 0;
    const reporter = startDeploymentReporter({
      ...settings,
      intervalMs: 60_000,
      store: registry.client,
      count: () => count,
      logger,
    });
    const find = async () =>
      (await registry.client.listDeployments()).find((d) => d.id === reporter.id);
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 200 && !(await check()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await until(async () => (await find()) !== undefined);
    const first = await find();
    expect(first).toMatchObject({ modelVersion: "1", intervalMs: 60_000, pid: process.pid });
    count = 500;
    reporter.running("2");
    await until(async () => (await find())?.modelVersion === "2");
    const second = await find();
    expect(second!.versionSince).toBeGreaterThanOrEqual(first!.versionSince);
    expect(second!.rate).toBeGreaterThan(0);
    await reporter.stop();
    expect(await find()).toBeUndefined();
  });

  it("logs a failing registry once at warn, then at debug, and never throws", async () => {
    const { logger, lines } = capturingLogger();
    const unreachable = new HttpStore({ url: "http://127.0.0.1:1", retries: 0, timeoutMs: 500 });
    const reporter = startDeploymentReporter({
      ...settings,
      store: unreachable,
      count: () => 0,
      logger,
    });
    const failures = () => lines.filter((line) => /deployment heartbeat/.test(String(line.msg)));
    for (let i = 0; i < 200 && failures().length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await reporter.stop();
    const levels = failures().map((line) => line.level);
    expect(levels[0]).toBe(40);
    expect(levels.slice(1).every((level) => level === 20)).toBe(true);
    expect(levels.length).toBeGreaterThanOrEqual(3);
  });
});
