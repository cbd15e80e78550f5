import { writeFile } from "node:fs/promises";
import Database from "better-sqlite3";
import { sqlString, withDuckDB } from "../duckdb/index.js";
import { describeUrl, endPool, openPool, postgresError } from "../batch/sql/postgres-connection.js";
import { qualified, quote, tableName, type TableName } from "../batch/sql/identifiers.js";

/**
 * The rides of the batch examples: the TLC columns a ride-duration job needs plus a
 * `ride_id` (pickup order) and the actual duration in minutes.
 */
interface Ride {
  ride_id: number;
  lpep_pickup_datetime: string;
  lpep_dropoff_datetime: string;
  PULocationID: number;
  DOLocationID: number;
  trip_distance: number | null;
  actual_duration: number;
}

/**
 * Timestamps as ISO 8601 text (no zone), which sorts correctly as a --since-column in SQLite.
 * Ride ids count from `firstId` in pickup order: two months loaded apart get ids that do not
 * collide when given distinct starts (their actual durations are joined by id).
 */
async function readRides(files: string[], firstId = 1): Promise<Ride[]> {
  return withDuckDB(async (db) => {
    const list = `[${files.map(sqlString).join(", ")}]`;
    const reader = await db.runAndReadAll(`
      SELECT row_number() OVER (ORDER BY lpep_pickup_datetime, PULocationID, DOLocationID) + ${firstId - 1} AS ride_id,
             strftime(lpep_pickup_datetime, '%Y-%m-%dT%H:%M:%S') AS lpep_pickup_datetime,
             strftime(lpep_dropoff_datetime, '%Y-%m-%dT%H:%M:%S') AS lpep_dropoff_datetime,
             CAST(PULocationID AS INTEGER) AS PULocationID, CAST(DOLocationID AS INTEGER) AS DOLocationID,
             CAST(trip_distance AS DOUBLE) AS trip_distance,
             CAST(epoch(lpep_dropoff_datetime - lpep_pickup_datetime) / 60.0 AS DOUBLE) AS actual_duration
      FROM read_parquet(${list}, union_by_name = true)
      ORDER BY ride_id`);
    return reader
      .getRowObjectsJson()
      .map((row) => ({ ...row, ride_id: Number(row.ride_id) }) as unknown as Ride);
  });
}

/** Copies TLC trip files into a SQLite table (default `rides`), replacing it. */
export async function writeRidesTable(
  files: string[],
  sqliteFile: string,
  table = "rides",
  firstId = 1,
): Promise<number> {
  const target = qualified(tableName(table, "--table"));
  const rows = await readRides(files, firstId);
  const db = new Database(sqliteFile);
  try {
    db.pragma("journal_mode = WAL");
    db.exec(`DROP TABLE IF EXISTS ${target};
      CREATE TABLE ${target} (ride_id INTEGER PRIMARY KEY, lpep_pickup_datetime TEXT, lpep_dropoff_datetime TEXT,
        PULocationID INTEGER, DOLocationID INTEGER, trip_distance REAL, actual_duration REAL)`);
    const insert = db.prepare(
      `INSERT INTO ${target} VALUES (@ride_id, @lpep_pickup_datetime, @lpep_dropoff_datetime, @PULocationID, @DOLocationID, @trip_distance, @actual_duration)`,
    );
    db.transaction(() => {
      for (const row of rows) insert.run(row);
    })();
  } finally {
    db.close();
  }
  return rows.length;
}

/** Rows per INSERT … SELECT FROM unnest(…): one round trip each, well under pg's limits. */
const POSTGRES_BATCH = 10_000;

/**
 * Copies TLC trip files into a PostgreSQL table (default `rides`, or `schema.table`; the schema
 * is created if missing), replacing it, in one transaction. Timestamps are TIMESTAMP columns.
 */
export async function writeRidesPostgres(
  files: string[],
  url: string,
  table = "rides",
  firstId = 1,
): Promise<number> {
  const name: TableName = tableName(table, "--table");
  const target = qualified(name);
  const description = describeUrl(url);
  const rows = await readRides(files, firstId);
  const pool = await openPool(url, description);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (name.schema !== undefined)
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quote(name.schema)}`);
    await client.query(`DROP TABLE IF EXISTS ${target}`);
    await client.query(
      `CREATE TABLE ${target} (ride_id BIGINT PRIMARY KEY, lpep_pickup_datetime TIMESTAMP,
        lpep_dropoff_datetime TIMESTAMP, "PULocationID" INTEGER, "DOLocationID" INTEGER,
        trip_distance DOUBLE PRECISION, actual_duration DOUBLE PRECISION)`,
    );
    for (let start = 0; start < rows.length; start += POSTGRES_BATCH) {
      const batch = rows.slice(start, start + POSTGRES_BATCH);
      const column = <K extends keyof Ride>(key: K) => batch.map((row) => row[key]);
      await client.query(
        `INSERT INTO ${target} SELECT * FROM unnest($1::bigint[], $2::timestamp[], $3::timestamp[],
           $4::integer[], $5::integer[], $6::double precision[], $7::double precision[])`,
        [
          column("ride_id"),
          column("lpep_pickup_datetime"),
          column("lpep_dropoff_datetime"),
          column("PULocationID"),
          column("DOLocationID"),
          column("trip_distance"),
          column("actual_duration"),
        ],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw postgresError(error, description);
  } finally {
    client.release();
    await endPool(pool);
  }
  return rows.length;
}

/** A ride's request columns, as the web service and the stream events carry them. */
function rideInputs(row: Ride) {
  return {
    PULocationID: row.PULocationID,
    DOLocationID: row.DOLocationID,
    trip_distance: row.trip_distance,
  };
}

/** Writes one JSON line per ride; returns how many. */
async function writeRideLines(
  files: string[],
  jsonlFile: string,
  firstId: number,
  line: (row: Ride) => unknown,
): Promise<number> {
  const rows = await readRides(files, firstId);
  const lines = rows.map((row) => JSON.stringify(line(row)));
  await writeFile(jsonlFile, lines.length > 0 ? `${lines.join("\n")}\n` : "");
  return rows.length;
}

/**
 * Writes the rides as stream events, one JSON line each, in the original system's input format
 * (`{"ride": {...}, "ride_id": N}`), for `mldeploy produce --file`.
 */
export function writeRideEvents(files: string[], jsonlFile: string, firstId = 1): Promise<number> {
  return writeRideLines(files, jsonlFile, firstId, (row) => ({
    ride: rideInputs(row),
    ride_id: row.ride_id,
  }));
}

/**
 * Writes the rides as web-service requests, one JSON line each, in the original service's
 * `/predict` format plus the `ride_id` the prediction log records (`mldeploy produce --to
 * http://…/predict --file`).
 */
export function writeRideRequests(
  files: string[],
  jsonlFile: string,
  firstId = 1,
): Promise<number> {
  return writeRideLines(files, jsonlFile, firstId, (row) => ({
    ...rideInputs(row),
    ride_id: row.ride_id,
  }));
}
