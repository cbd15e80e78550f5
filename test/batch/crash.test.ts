import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../src/registry/registry.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { CLI, runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { isBadRide, makeRides, querySqlite, sqliteBatchArgs, writeRidesSqlite } from "./helpers.js";

const ROWS = 40_000;
let bundle: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  bundle = await rideBundlePath();
  env = { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") };
});

const args = (db: string) => [
  ...sqliteBatchArgs(bundle, db),
  "--since-column",
  "lpep_pickup_datetime",
  "--chunk-size",
  "200",
];

function committedChunks(db: string): number {
  try {
    return querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM ride_predictions")[0].n;
  } catch {
    return 0; // the table does not exist yet, or the writer holds the lock
  }
}

const scored = (db: string) =>
  querySqlite<{ ride_id: number; predicted_duration: number }>(
    db,
    "SELECT ride_id, predicted_duration FROM ride_predictions ORDER BY ride_id",
  );

async function startUntilCommitted(db: string, rows: number) {
  const child = spawn(process.execPath, [CLI, ...args(db)], {
    env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const deadline = Date.now() + 60_000;
  while (committedChunks(db) < rows) {
    if (Date.now() > deadline)
      throw new Error(`the batch job never committed ${rows} rows:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, exited, output: () => output };
}

describe("mldeploy batch on SIGTERM", () => {
  it("finishes the chunk in progress, exits 0, records the run as KILLED, and the next run completes", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(ROWS));
    const job = await startUntilCommitted(db, 2_000);
    job.child.kill("SIGTERM");
    expect(await job.exited).toBe(0);
    expect(job.output()).toMatch(/stopping after the chunk in progress/);
    const partial = committedChunks(db);
    expect(partial).toBeLessThan(ROWS * 0.9);

    const history = await runCli(["batch", "history", "--json"], { env });
    const runs = JSON.parse(history.stdout) as Array<{
      status: string;
      latestMetrics: { rows_read: number };
    }>;
    expect(runs[0].status).toBe("KILLED");
    expect(runs[0].latestMetrics.rows_read % 200).toBe(0);

    const rest = await runCli(args(db), { env });
    expect(rest.status, rest.stderr).toBe(0);
    expect(committedChunks(db)).toBe(ROWS - makeRides(ROWS).filter(isBadRide).length);
  });
});

describe("mldeploy batch after kill -9", () => {
  it("resumes from the last committed chunk: the result equals a clean run, nothing lost or doubled", async () => {
    const crashed = path.join(tempDir(), "crashed.db");
    const clean = path.join(tempDir(), "clean.db");
    const rides = makeRides(ROWS);
    writeRidesSqlite(crashed, rides);
    writeRidesSqlite(clean, rides);

    const child = spawn(process.execPath, [CLI, ...args(crashed)], {
      env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 60_000;
    while (committedChunks(crashed) < 2_000) {
      if (Date.now() > deadline) throw new Error("the batch job never committed a chunk");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await exited;
    const partial = committedChunks(crashed);
    expect(partial).toBeLessThan(ROWS * 0.9);

    // The killed run is not shown RUNNING: its process is gone.
    const runsOf = async () => {
      const history = await runCli(["batch", "history", "--json"], { env });
      expect(history.status, history.stderr).toBe(0);
      return JSON.parse(history.stdout) as Array<{
        id: string;
        status: string;
        tags: Record<string, string>;
      }>;
    };
    const [killed] = await runsOf();
    expect(killed.status).toBe("KILLED");
    expect(killed.tags.failure_reason).toBe("process gone");

    const resumed = await runCli(args(crashed), { env });
    expect(resumed.status, resumed.stderr).toBe(0);
    // The next run of the job ended the dead run in the registry itself.
    const registry = await Registry.open({ dataDir: env.MLDEPLOY_DATA_DIR! });
    try {
      const stored = await registry.store.getRun(killed.id);
      expect(stored.status).toBe("KILLED");
      expect(stored.tags.failure_reason).toBe("process gone");
    } finally {
      await registry.close();
    }
    const after = await runsOf();
    expect(after[0].status).toBe("FINISHED");
    expect(after.find((run) => run.id === killed.id)?.status).toBe("KILLED");
    expect(after.map((run) => run.status)).not.toContain("RUNNING");
    const fresh = await runCli(args(clean), { env });
    expect(fresh.status, fresh.stderr).toBe(0);

    const a = scored(crashed);
    const b = scored(clean);
    expect(a.length).toBe(b.length);
    expect(a).toEqual(b);
  });
});

describe("mldeploy batch from files to files after kill -9", () => {
  const fileArgs = (input: string, output: string) => [
    "batch",
    "--model",
    bundle,
    "--source",
    input,
    "--id-column",
    "ride_id",
    "--since-column",
    "lpep_pickup_datetime",
    "--keep-columns",
    "PULocationID,DOLocationID",
    "--actual-column",
    "actual_duration",
    "--sink",
    output,
    "--chunk-size",
    "500",
  ];
  /** Chunks the job committed so far (its state file's sequence). */
  const committed = (output: string): number => {
    try {
      const dir = `${output}.parts`;
      const state = readdirSync(dir).find(
        (name) => name.startsWith("_job-") && name.endsWith(".json"),
      );
      return state
        ? (JSON.parse(readFileSync(path.join(dir, state), "utf8")) as { sequence: number }).sequence
        : 0;
    } catch {
      return 0; // not created yet, or being replaced
    }
  };
  const rows = async (file: string) =>
    withDuckDB(async (db) =>
      (
        await db.runAndReadAll(
          `SELECT ride_id, predicted_duration, diff FROM read_parquet(${sqlString(file)}) ORDER BY ride_id`,
        )
      ).getRowObjectsJson(),
    );

  it("scored inside DuckDB, resumes from the last committed chunk and equals a clean run", async () => {
    const dir = tempDir();
    const input = path.join(dir, "rides.parquet");
    const json = path.join(dir, "rides.json");
    writeFileSync(json, JSON.stringify(makeRides(ROWS)));
    await withDuckDB((db) =>
      db.run(
        `COPY (SELECT ride_id, CAST(lpep_pickup_datetime AS TIMESTAMP) AS lpep_pickup_datetime,
                      PULocationID, DOLocationID, trip_distance, actual_duration
               FROM read_json(${sqlString(json)})) TO ${sqlString(input)} (FORMAT parquet)`,
      ),
    );
    const crashed = path.join(dir, "crashed.parquet");
    const child = spawn(process.execPath, [CLI, ...fileArgs(input, crashed)], {
      env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 60_000;
    while (committed(crashed) < 2) {
      if (Date.now() > deadline) throw new Error("the batch job never committed a chunk");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill("SIGKILL");
    await exited;
    expect(committed(crashed)).toBeLessThan(ROWS / 500);
    expect(existsSync(crashed)).toBe(false);

    const resumed = await runCli(fileArgs(input, crashed), { env });
    expect(resumed.status, resumed.stderr).toBe(0);
    const clean = path.join(dir, "clean.parquet");
    const fresh = await runCli(fileArgs(input, clean), { env });
    expect(fresh.status, fresh.stderr).toBe(0);

    const a = await rows(crashed);
    expect(a).toHaveLength(ROWS - makeRides(ROWS).filter(isBadRide).length);
    expect(a).toEqual(await rows(clean));
  });
});
