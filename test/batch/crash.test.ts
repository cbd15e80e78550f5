import { spawn } from "node:child_process";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
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

    const resumed = await runCli(args(crashed), { env });
    expect(resumed.status, resumed.stderr).toBe(0);
    const fresh = await runCli(args(clean), { env });
    expect(fresh.status, fresh.stderr).toBe(0);

    const a = scored(crashed);
    const b = scored(clean);
    expect(a.length).toBe(b.length);
    expect(a).toEqual(b);
  });
});
