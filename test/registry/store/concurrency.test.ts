import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../../src/registry/store/open-store.js";
import { NO_POSTGRES, PG_URL, postgresReachable, scratchDirs, TestSchemas } from "./helpers.js";

const scratch = scratchDirs();

const WORKER = path.resolve("test/registry/store/fixtures/store-worker.mjs");
const BUILT = path.resolve("dist/registry/store/index.js");
const WORKERS = 4;
const METRICS = 200;
// Each call is a transaction (a PostgreSQL commit costs an fsync): a few points per call keep
// the test quick while still interleaving hundreds of transactions from the workers.
const METRICS_PER_CALL = 4;
const VERSIONS = 5;
const TIMEOUT_MS = 30_000;

interface WorkerResult {
  runId: string;
  versions: number[];
}

/**
 * Starts the workers, waits until every one has loaded, then releases them at once, so that
 * they also race to open (and migrate) a fresh database.
 */
async function runWorkers(url: string): Promise<WorkerResult[]> {
  const children = Array.from({ length: WORKERS }, (_, i) =>
    spawn(
      process.execPath,
      [WORKER, url, String(i), String(METRICS), String(METRICS_PER_CALL), String(VERSIONS)],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    ),
  );
  const timer = setTimeout(() => children.forEach((child) => child.kill("SIGKILL")), TIMEOUT_MS);
  try {
    const outputs = children.map((child) => {
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8");
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const ready = new Promise<void>((resolve) => {
        child.stdout.on("data", (chunk: string) => {
          stdout += chunk;
          if (stdout.startsWith("ready\n")) resolve();
        });
      });
      const done = new Promise<WorkerResult>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (status, signal) => {
          if (status !== 0) {
            reject(new Error(`worker exited ${status ?? signal}: ${stderr}`));
            return;
          }
          resolve(JSON.parse(stdout.slice("ready\n".length)) as WorkerResult);
        });
      });
      return { ready, done };
    });
    await Promise.race([
      Promise.all(outputs.map((o) => o.ready)),
      Promise.all(outputs.map((o) => o.done)), // a worker that dies while loading
    ]);
    for (const child of children) child.stdin.end("go\n");
    return await Promise.all(outputs.map((o) => o.done));
  } finally {
    clearTimeout(timer);
  }
}

async function checkOutcome(url: string, results: WorkerResult[]): Promise<void> {
  const allocated = results.flatMap((r) => r.versions).sort((a, b) => a - b);
  const expected = Array.from({ length: WORKERS * VERSIONS }, (_, i) => i + 1);
  expect(allocated).toEqual(expected);

  const store = await openStore(url);
  try {
    const experiment = await store.findExperimentByName("concurrency");
    expect(experiment).toBeDefined();
    const runs = await store.listRuns({ experimentId: experiment?.id });
    expect(runs).toHaveLength(WORKERS);
    let points = 0;
    for (const run of runs) {
      expect(run.status).toBe("FINISHED");
      expect(run.latestMetrics).toEqual({ loss: (METRICS - 1) / 10 });
      const history = await store.getMetricHistory(run.id, "loss");
      expect(history.map((p) => p.step)).toEqual(Array.from({ length: METRICS }, (_, i) => i));
      points += history.length;
    }
    expect(points).toBe(WORKERS * METRICS);

    const versions = await store.listModelVersions("shared-model");
    expect(versions.map((v) => v.version)).toEqual(expected);
    expect((await store.getRegisteredModel("shared-model")).latestVersion).toBe(expected.length);
    for (const result of results) {
      const own = versions.filter((v) => v.runId === result.runId).map((v) => v.version);
      expect(own).toEqual(result.versions);
    }
  } finally {
    await store.close();
  }
}

beforeAll(() => {
  // The workers run the built code (as users do); make sure it is this source's build.
  const builtAt = statSync(BUILT, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const source = path.resolve("src/registry/store");
  const newest = Math.max(
    statSync(path.resolve("src/registry/errors.ts")).mtimeMs,
    ...readdirSync(source)
      .filter((file) => file.endsWith(".ts"))
      .map((file) => statSync(path.join(source, file)).mtimeMs),
  );
  if (builtAt < newest) throw new Error(`${BUILT} is missing or stale: run \`npm run build\``);
});

const hasPostgres = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe("several processes writing to one registry at once", () => {
  it(`SQLite: ${WORKERS} processes × ${METRICS} metrics and ${VERSIONS} versions`, async () => {
    const url = `sqlite:${path.join(scratch(), "fresh", "registry.db")}`;
    await checkOutcome(url, await runWorkers(url));
  });

  it.skipIf(!hasPostgres)(
    `PostgreSQL: ${WORKERS} processes × ${METRICS} metrics and ${VERSIONS} versions` +
      (hasPostgres ? "" : ` — ${NO_POSTGRES}`),
    async () => {
      const url = `${PG_URL}?schema=${schemas.next()}`;
      await checkOutcome(url, await runWorkers(url));
    },
  );
});
