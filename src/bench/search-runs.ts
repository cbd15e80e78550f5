/**
 * `npm run bench:search-runs`
 *
 * What a page of the runs table costs (issue 20's target: < 50 ms): 10,000 runs in one
 * experiment, each with 3 params and 3 metrics, searched with searchRuns on SQLite, on
 * PostgreSQL (when reachable at MLDEPLOY_TEST_POSTGRES_URL or the test default) and through
 * registry-server's HTTP API over the SQLite file. The rows are bulk-inserted with SQL (the
 * store's one-run-at-a-time calls would take minutes); the search itself runs through the
 * store. Reported: the median and the slowest of 20 timed calls per query, after 3 warm-ups,
 * and this process's CPU time per call (SQLite and the HTTP server run in it; PostgreSQL's
 * own CPU is not counted), which the other loads of a shared machine do not inflate.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { pino } from "pino";
import { runRegistryServer } from "../registry/server/run.js";
import { HttpStore } from "../registry/store/http-store.js";
import { newId } from "../registry/store/ids.js";
import { PostgresStore } from "../registry/store/postgres-store.js";
import { SqliteStore } from "../registry/store/sqlite-store.js";
import { bulkInsert, RUNS, runRows, seedSqlite } from "./seed-runs.js";
import type { RegistryStore, SearchRunsInput } from "../registry/store/types.js";

const PAGE = 100;
const PG_URL = process.env.MLDEPLOY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const QUERIES: [string, Omit<SearchRunsInput, "experimentIds">][] = [
  ["newest first (default)", {}],
  ["order by metrics.valid_rmse ASC", { orderBy: ["metrics.valid_rmse ASC"] }],
  [
    'filter metrics.valid_rmse < 5.5 and params.alpha = "0", order by params.depth DESC',
    { filter: 'metrics.valid_rmse < 5.5 and params.alpha = "0"', orderBy: ["params.depth DESC"] },
  ],
  [
    "last page, order by metrics.r2 DESC",
    {
      orderBy: ["metrics.r2 DESC"],
      pageToken: Buffer.from(JSON.stringify({ offset: RUNS - PAGE })).toString("base64"),
    },
  ],
];

async function measure(label: string, store: RegistryStore, experimentId: string): Promise<void> {
  for (const [name, query] of QUERIES) {
    const input = { experimentIds: [experimentId], maxResults: PAGE, ...query };
    for (let i = 0; i < 3; i++) await store.searchRuns(input);
    const times: number[] = [];
    let count = 0;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      count = (await store.searchRuns(input)).runs.length;
      times.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000 / 20;
    times.sort((a, b) => a - b);
    console.log(
      `| ${label} | ${name} | ${count} | ${times[10].toFixed(1)} ms | ${times[19].toFixed(1)} ms | ${cpuMs.toFixed(1)} ms |`,
    );
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-search-"));
  console.log(
    `${RUNS} runs × 3 params × 3 metrics, pages of ${PAGE}; 20 calls each, after 3 warm-ups\n`,
  );
  console.log(
    "| store | query | runs | median | slowest | this process's CPU per call |\n|---|---|---|---|---|---|",
  );
  try {
    const file = path.join(dir, "registry.db");
    const experimentId = await seedSqlite(file, dir);
    const store = await SqliteStore.open(file, { artifactRoot: dir });
    await measure("SQLite", store, experimentId);

    const server = await runRegistryServer({
      store,
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "silent" }),
      anyArtifactLocation: true,
    });
    const client = new HttpStore({ url: server.url });
    await measure("HTTP → SQLite", client, experimentId);
    await client.close();
    await server.close();
    await store.close();

    await benchPostgres(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(dir: string): Promise<void> {
  const schema = `mldeploy_bench_${newId().slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch {
    console.log(`| PostgreSQL | skipped: none at ${PG_URL} | | | |`);
    return;
  }
  try {
    const store = await PostgresStore.open(PG_URL, { schema, artifactRoot: dir });
    const experiment = await store.createExperiment("bench");
    await admin.query(`SET search_path TO "${schema}"`);
    await admin.query("BEGIN");
    await bulkInsert(
      async (sql, values) => void (await admin.query(sql, values)),
      runRows(experiment.id),
      (n) => `$${n}`,
    );
    await admin.query("COMMIT");
    await admin.query("ANALYZE");
    await measure("PostgreSQL", store, experiment.id);
    await store.close();
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

await main();
