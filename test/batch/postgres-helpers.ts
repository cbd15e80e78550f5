import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { expect } from "vitest";
import { CLI } from "../helpers/cli.js";
import { isBadRide, makeRides, type Ride } from "./helpers.js";

/** The rides table of the SQLite tests, in a PostgreSQL schema. */
export async function writeRidesPostgres(
  client: pg.Client,
  table: string,
  rides: Ride[],
): Promise<void> {
  await client.query(`CREATE TABLE ${table} (
    ride_id BIGINT PRIMARY KEY, lpep_pickup_datetime TIMESTAMPTZ, "PULocationID" INTEGER,
    "DOLocationID" INTEGER, trip_distance DOUBLE PRECISION, actual_duration DOUBLE PRECISION)`);
  await client.query(
    `INSERT INTO ${table} SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[],
       $4::int[], $5::float8[], $6::float8[])`,
    [
      rides.map((r) => r.ride_id),
      rides.map((r) => r.lpep_pickup_datetime),
      rides.map((r) => r.PULocationID),
      rides.map((r) => r.DOLocationID),
      rides.map((r) => (r.trip_distance === null ? null : Number(r.trip_distance))),
      rides.map((r) => r.actual_duration),
    ],
  );
}

/** `url` with an application_name, by which a test finds (and terminates) only its own backends. */
export function withApplicationName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("application_name", name);
  return parsed.toString();
}

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString("hex")}`;

/**
 * A function (in `schema`) that polls pg_stat_activity from inside the server, about every
 * millisecond, until a backend of `app` is in `state` with a query LIKE `pattern`, terminates
 * it and returns "state: query" (NULL after `seconds`). Polling server-side catches states
 * that last only a few milliseconds, such as a sink transaction idle between two statements.
 */
export async function installTerminator(client: pg.Client, schema: string): Promise<void> {
  await client.query(`CREATE FUNCTION "${schema}".terminate_backend_of(
      app text, wanted text, pattern text, seconds float8) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
      hit record;
      deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    BEGIN
      LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid, state, query INTO hit FROM pg_stat_activity
          WHERE application_name = app AND state = wanted AND query LIKE pattern
          LIMIT 1;
        IF FOUND THEN
          PERFORM pg_terminate_backend(hit.pid);
          RETURN hit.state || ': ' || left(hit.query, 80);
        END IF;
        IF clock_timestamp() > deadline THEN
          RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.0005);
      END LOOP;
    END $$`);
}

export async function terminateBackendOf(
  client: pg.Client,
  schema: string,
  app: string,
  state: "active" | "idle in transaction",
  pattern = "%",
): Promise<string> {
  const { rows } = await client.query<{ hit: string | null }>(
    `SELECT "${schema}".terminate_backend_of($1, $2, $3, 60) AS hit`,
    [app, state, pattern],
  );
  const hit = rows[0].hit;
  if (hit === null) throw new Error(`no backend of ${app} was ${state} (${pattern}) within 60 s`);
  return hit;
}

/** Rows in a table, 0 while it does not exist yet. */
export async function countRows(client: pg.Client, table: string): Promise<number> {
  const { rows } = await client.query<{ n: string | null }>(
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 1 END AS n`,
    [table],
  );
  if (rows[0].n === null) return 0;
  return Number(
    (await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n,
  );
}

export async function waitForRows(
  client: pg.Client,
  table: string,
  atLeast: number,
  job: BatchProcess,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await countRows(client, table)) < atLeast) {
    if (Date.now() > deadline || job.child.exitCode !== null) {
      throw new Error(`the job never committed ${atLeast} rows into ${table}:\n${job.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface BatchProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
}

/** `mldeploy batch …` as a child process, its logs (info) collected. */
export function startBatch(args: string[], env: NodeJS.ProcessEnv): BatchProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))),
  );
  return { child, exited, output: () => output };
}

/**
 * Exactly one prediction for every good source row and one reject for every bad one, nothing
 * else: the job's output after faults equals what a clean run gives.
 */
export async function expectExactOutput(
  client: pg.Client,
  predictions: string,
  rides: Ride[],
): Promise<void> {
  const good = rides.filter((ride) => !isBadRide(ride)).map((ride) => ride.ride_id);
  const bad = rides.filter(isBadRide).map((ride) => String(ride.ride_id));
  const scored = await client.query<{ ride_id: string; n: string }>(
    `SELECT ride_id, count(*) AS n FROM ${predictions} GROUP BY ride_id ORDER BY ride_id`,
  );
  expect(scored.rows.filter((row) => Number(row.n) !== 1)).toEqual([]);
  expect(scored.rows.map((row) => Number(row.ride_id))).toEqual(good);
  const rejected = await client.query<{ id: string }>(
    `SELECT id FROM ${predictions}_rejects ORDER BY id::bigint`,
  );
  expect(rejected.rows.map((row) => row.id)).toEqual(bad);
}

export { makeRides };
