import Database from "better-sqlite3";
import { createLogger } from "../../src/log/logger.js";

export interface Ride {
  ride_id: number;
  lpep_pickup_datetime: string;
  PULocationID: number | null;
  DOLocationID: number;
  trip_distance: number | string | null;
  actual_duration: number;
}

/**
 * Deterministic rides; every 97th has no distance and every 89th a negative one, so a run
 * always has rejects. Pickup times advance by 7 s with ties every 5 rows (keyset on since+id).
 */
export function makeRides(count: number, firstId = 1, start = Date.UTC(2021, 0, 1)): Ride[] {
  const rides: Ride[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + i;
    rides.push({
      ride_id: id,
      lpep_pickup_datetime: new Date(start + Math.floor(id / 5) * 7000).toISOString(),
      PULocationID: 1 + ((id * 37) % 265),
      DOLocationID: 1 + ((id * 91) % 265),
      trip_distance: id % 97 === 0 ? null : id % 89 === 0 ? -2 : ((id * 13) % 200) / 10,
      actual_duration: 5 + (id % 40),
    });
  }
  return rides;
}

export const isBadRide = (ride: Ride) =>
  ride.trip_distance === null || Number(ride.trip_distance) < 0;

export function writeRidesSqlite(file: string, rides: Ride[], table = "rides"): void {
  const db = new Database(file);
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
    ride_id INTEGER PRIMARY KEY, lpep_pickup_datetime TEXT, PULocationID INTEGER,
    DOLocationID INTEGER, trip_distance REAL, actual_duration REAL)`);
  const insert = db.prepare(
    `INSERT INTO ${table} VALUES (@ride_id, @lpep_pickup_datetime, @PULocationID, @DOLocationID, @trip_distance, @actual_duration)`,
  );
  db.transaction(() => rides.forEach((ride) => insert.run(ride)))();
  db.close();
}

export function querySqlite<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export const quietLogger = () => createLogger({ level: "silent" });

/** `mldeploy batch` arguments scoring table `table` of a SQLite file into its `ride_predictions`. */
export function sqliteBatchArgs(model: string, db: string, table = "rides"): string[] {
  return [
    "batch",
    "--model",
    model,
    "--source",
    `sqlite:${db}`,
    "--table",
    table,
    "--id-column",
    "ride_id",
    "--sink",
    `sqlite:${db}`,
    "--sink-table",
    "ride_predictions",
  ];
}
