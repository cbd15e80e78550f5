import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { seriesValue } from "../helpers/prometheus.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../registry/store/helpers.js";
import { isBadRide } from "./helpers.js";
import {
  countRows,
  expectExactOutput,
  installTerminator,
  makeRides,
  startBatch,
  terminateBackendOf,
  uniqueName,
  waitForRows,
  withApplicationName,
  writeRidesPostgres,
} from "./postgres-helpers.js";
import { privatePostgresUnavailable, startPrivatePostgres } from "./private-postgres.js";

/**
 * PostgreSQL connections of a running `mldeploy batch` terminated with pg_terminate_backend
 * (only the job's own backends, found by the application_name set in its URLs): the process
 * survives, retries from its last committed checkpoint, and the output is exact.
 */

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
const ROWS = 40_000;
const CHUNK = 2_000;
const RIDES = makeRides(ROWS);

let admin: pg.Client;
let bundle: string;
let schema: string;

beforeAll(async () => {
  bundle = await rideBundlePath();
  if (!HAS_POSTGRES) return;
  schema = schemas.next();
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await writeRidesPostgres(admin, `"${schema}".rides`, RIDES);
  await installTerminator(admin, schema);
});
afterAll(async () => {
  await admin?.end();
  await schemas.drop();
});

interface Job {
  args: string[];
  env: NodeJS.ProcessEnv;
  sourceApp: string;
  sinkApp: string;
  predictions: string;
  name: string;
}

function job(extra: string[] = []): Job {
  const sourceApp = uniqueName("mldeploy_test_src");
  const sinkApp = uniqueName("mldeploy_test_sink");
  const table = uniqueName("preds");
  const name = uniqueName("job");
  return {
    sourceApp,
    sinkApp,
    name,
    predictions: `"${schema}".${table}`,
    env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") },
    args: [
      "batch",
      "--model",
      bundle,
      "--source",
      withApplicationName(PG_URL, sourceApp),
      "--table",
      `${schema}.rides`,
      "--id-column",
      "ride_id",
      "--since-column",
      "lpep_pickup_datetime",
      "--sink",
      withApplicationName(PG_URL, sinkApp),
      "--sink-table",
      `${schema}.${table}`,
      "--chunk-size",
      String(CHUNK),
      "--job-name",
      name,
      "--retry-delay",
      "100ms",
      ...extra,
    ],
  };
}

interface HistoryRun {
  status: string;
  tags: Record<string, string>;
  latestMetrics: Record<string, number>;
}

async function history(j: Job): Promise<HistoryRun[]> {
  const result = await runCli(["batch", "history", "--json", "--job", j.name], { env: j.env });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HistoryRun[];
}

const FAULTS = [
  {
    what: "during a source read",
    app: (j: Job) => j.sourceApp,
    state: "active" as const,
    // A chunk's SELECT (not the count at the start).
    pattern: "SELECT % ORDER BY %",
  },
  {
    what: "inside the sink transaction (an upsert running)",
    app: (j: Job) => j.sinkApp,
    state: "active" as const,
    pattern: "INSERT INTO %",
  },
  {
    what: "while the sink transaction is idle between two statements",
    app: (j: Job) => j.sinkApp,
    state: "idle in transaction" as const,
    pattern: "%",
  },
];

describe.skipIf(!HAS_POSTGRES)(
  HAS_POSTGRES ? "batch with PostgreSQL connections terminated" : `batch — ${NO_POSTGRES}`,
  () => {
    it.each(FAULTS)(
      "survives a connection terminated $what, retries from the checkpoint, and the output is exact",
      async (fault) => {
        const j = job();
        const batch = startBatch(j.args, j.env);
        try {
          await waitForRows(admin, j.predictions, 2 * CHUNK, batch);
          const hit = await terminateBackendOf(
            admin,
            schema,
            fault.app(j),
            fault.state,
            fault.pattern,
          );
          expect(hit).toMatch(fault.state);
          expect(await batch.exited, batch.output()).toBe(0);
        } finally {
          batch.child.kill("SIGKILL");
        }
        expect(batch.output()).toMatch(/retrying/);
        await expectExactOutput(admin, j.predictions, RIDES);
        const [run] = await history(j);
        expect(run.status).toBe("FINISHED");
        // Rows committed before the fault and after it, each counted once.
        expect(run.latestMetrics.rows_read).toBe(ROWS);
        expect(Number(run.tags.retries)).toBeGreaterThanOrEqual(1);
      },
    );

    it("with no retries left, records the run FAILED with the rows it committed and the reason; the next run completes", async () => {
      const j = job(["--retry-attempts", "0"]);
      const batch = startBatch(j.args, j.env);
      try {
        await waitForRows(admin, j.predictions, 2 * CHUNK, batch);
        await terminateBackendOf(admin, schema, j.sinkApp, "active", "INSERT INTO %");
        expect(await batch.exited, batch.output()).toBe(1);
      } finally {
        batch.child.kill("SIGKILL");
      }
      expect(batch.output()).toMatch(/terminating connection due to administrator command/);
      const committed = await countRows(admin, j.predictions);
      const [failed] = await history(j);
      expect(failed.status).toBe("FAILED");
      expect(failed.tags.failure_reason).toMatch(/terminating connection/);
      expect(failed.latestMetrics.rows_scored).toBe(committed);
      expect(failed.latestMetrics.rows_read % CHUNK).toBe(0);
      expect(committed).toBeLessThan(ROWS - RIDES.filter(isBadRide).length);

      const rerun = await runCli(j.args, { env: j.env });
      expect(rerun.status, rerun.stderr).toBe(0);
      await expectExactOutput(admin, j.predictions, RIDES);
    });

    it("scheduled (--every): a failed run is logged and counted, and the job runs again at its next slot", async () => {
      const j = job(["--retry-attempts", "0", "--every", "1s", "--metrics-port", "0"]);
      const batch = startBatch(j.args, j.env);
      let metrics = "";
      try {
        await waitForRows(admin, j.predictions, 2 * CHUNK, batch);
        await terminateBackendOf(admin, schema, j.sourceApp, "active", "SELECT % ORDER BY %");
        const deadline = Date.now() + 60_000;
        const job = { batch_job: j.name };
        for (;;) {
          const url = /"metrics":"(http:[^"]+)"/.exec(batch.output())?.[1];
          metrics = url ? await fetch(url).then((r) => r.text()) : "";
          if (seriesValue(metrics, "mldeploy_batch_runs_total", { ...job, status: "FINISHED" }))
            break;
          if (Date.now() > deadline || batch.child.exitCode !== null) {
            throw new Error(`no run finished after the failed one:\n${batch.output()}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(
          seriesValue(metrics, "mldeploy_batch_runs_total", { ...job, status: "FAILED" }),
        ).toBe(1);
      } finally {
        batch.child.kill("SIGTERM");
      }
      expect(await batch.exited, batch.output()).toBe(0);
      expect(batch.output()).toMatch(/run failed/);
      await expectExactOutput(admin, j.predictions, RIDES);
      const runs = await history(j);
      expect(runs.map((run) => run.status)).toContain("FAILED");
      expect(runs.map((run) => run.status)).toContain("FINISHED");
    });
  },
);

const NO_PRIVATE_POSTGRES = privatePostgresUnavailable();

describe.skipIf(NO_PRIVATE_POSTGRES !== undefined)(
  NO_PRIVATE_POSTGRES === undefined
    ? "batch with its PostgreSQL server restarted"
    : `batch with its PostgreSQL server restarted — skipped: ${NO_PRIVATE_POSTGRES}`,
  () => {
    it("resumes after a restart of the server in the middle of the batch, and the output is exact", async () => {
      const server = await startPrivatePostgres();
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const rides = makeRides(60_000);
      try {
        await writeRidesPostgres(client, "rides", rides);
      } finally {
        await client.end();
      }
      const env = { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") };
      const args = [
        "batch",
        "--model",
        bundle,
        "--source",
        server.url,
        "--table",
        "rides",
        "--id-column",
        "ride_id",
        "--since-column",
        "lpep_pickup_datetime",
        "--sink",
        server.url,
        "--sink-table",
        "preds",
        "--chunk-size",
        "1000",
        "--retry-delay",
        "200ms",
      ];
      const batch = startBatch(args, env);
      const watcher = new pg.Client({ connectionString: server.url });
      await watcher.connect();
      try {
        await waitForRows(watcher, "preds", 3_000, batch);
        await watcher.end();
        await server.restart();
        expect(await batch.exited, batch.output()).toBe(0);
      } finally {
        await watcher.end().catch(() => undefined);
        batch.child.kill("SIGKILL");
      }
      // The restart did hit the job (not after its end), which resumed from its checkpoint.
      expect(batch.output()).toMatch(/retrying from the last committed chunk/);
      const after = new pg.Client({ connectionString: server.url });
      await after.connect();
      try {
        await expectExactOutput(after, "preds", rides);
      } finally {
        await after.end();
      }
      const result = await runCli(["batch", "history", "--json"], { env });
      const [run] = JSON.parse(result.stdout) as HistoryRun[];
      expect(run.status).toBe("FINISHED");
      expect(run.latestMetrics.rows_read).toBe(rides.length);
    });
  },
);
