import Database from "better-sqlite3";
import { sqlString, withDuckDB } from "../train/duckdb.js";

/**
 * Copies TLC trip files into a SQLite table `rides` for the batch examples: the TLC columns a
 * ride-duration job needs plus a `ride_id` (pickup order) and the actual duration in minutes.
 * Timestamps are ISO 8601 text, which sorts correctly as a --since-column.
 */
export async function writeRidesTable(
  files: string[],
  sqliteFile: string,
  table = "rides",
): Promise<number> {
  const rows = await withDuckDB(async (db) => {
    const list = `[${files.map(sqlString).join(", ")}]`;
    const reader = await db.runAndReadAll(`
      SELECT row_number() OVER (ORDER BY lpep_pickup_datetime, PULocationID, DOLocationID) AS ride_id,
             strftime(lpep_pickup_datetime, '%Y-%m-%dT%H:%M:%S') AS lpep_pickup_datetime,
             strftime(lpep_dropoff_datetime, '%Y-%m-%dT%H:%M:%S') AS lpep_dropoff_datetime,
             CAST(PULocationID AS INTEGER) AS PULocationID, CAST(DOLocationID AS INTEGER) AS DOLocationID,
             CAST(trip_distance AS DOUBLE) AS trip_distance,
             CAST(epoch(lpep_dropoff_datetime - lpep_pickup_datetime) / 60.0 AS DOUBLE) AS actual_duration
      FROM read_parquet(${list}, union_by_name = true)
      ORDER BY ride_id`);
    return reader.getRowObjectsJson();
  });
  const db = new Database(sqliteFile);
  try {
    db.pragma("journal_mode = WAL");
    db.exec(`DROP TABLE IF EXISTS "${table}";
      CREATE TABLE "${table}" (ride_id INTEGER PRIMARY KEY, lpep_pickup_datetime TEXT, lpep_dropoff_datetime TEXT,
        PULocationID INTEGER, DOLocationID INTEGER, trip_distance REAL, actual_duration REAL)`);
    const insert = db.prepare(
      `INSERT INTO "${table}" VALUES (@ride_id, @lpep_pickup_datetime, @lpep_dropoff_datetime, @PULocationID, @DOLocationID, @trip_distance, @actual_duration)`,
    );
    db.transaction(() => {
      for (const row of rows) insert.run({ ...row, ride_id: Number(row.ride_id) });
    })();
  } finally {
    db.close();
  }
  return rows.length;
}
