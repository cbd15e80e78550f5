import { mkdir } from "node:fs/promises";
import path from "node:path";
import { DOUBLE, DuckDBDataChunk, type DuckDBConnection } from "@duckdb/node-api";
import { UserError } from "../config/errors.js";
import { sqlString, withDuckDB } from "../duckdb/index.js";
import { Random } from "./prng.js";
import { DEFAULT_SAMPLE_ROWS } from "./sample-defaults.js";
import { shiftedWorld, zoneDistance, type SampleWorld } from "./sample-world.js";

export interface SampleTripsOptions {
  /** Parquet file to write (parent folders are created; an existing file is replaced). */
  path: string;
  seed: number;
  year: number;
  /** 1–12. */
  month: number;
  /** Number of trips; a real green-taxi month has about 70,000. */
  rows?: number;
  /**
   * 0–1, default 0: moves the rides, for drift demonstrations. Pickups and dropoffs shift
   * towards other zones (zone pairs unseen in an unshifted month) and trips get longer, so
   * drift tests flag the month and a model trained on unshifted months errs more on it.
   * 0 writes exactly the unshifted trips.
   */
  shift?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SampleTripsResult {
  path: string;
  rows: number;
}

export { DEFAULT_SAMPLE_ROWS };

/**
 * Generated values are staged as DOUBLE columns (NaN = null) and cast to the TLC types in the
 * final SELECT: filling typed DOUBLE vectors is the fastest way into DuckDB from JS, and one
 * cast per column in SQL is cheaper than building BigInt/timestamp objects per value.
 */
const STAGE_COLUMNS = [
  "VendorID",
  "pickup_s",
  "dropoff_s",
  "store_and_fwd",
  "RatecodeID",
  "PULocationID",
  "DOLocationID",
  "passenger_count",
  "trip_distance",
  "fare_amount",
  "extra",
  "tip_amount",
  "tolls_amount",
  "payment_type",
  "trip_type",
  "congestion_surcharge",
] as const;
type StageColumn = (typeof STAGE_COLUMNS)[number];
const COL = Object.fromEntries(STAGE_COLUMNS.map((name, index) => [name, index])) as Record<
  StageColumn,
  number
>;

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048;
const PROGRESS_EVERY_CHUNKS = 16;

/**
 * Writes a synthetic month of NYC TLC green-taxi trips as Parquet, in the real TLC column
 * names and types, deterministic for a given (seed, year, month, rows).
 */
export async function writeSampleTrips(options: SampleTripsOptions): Promise<SampleTripsResult> {
  const rows = options.rows ?? DEFAULT_SAMPLE_ROWS;
  checkOptions(options, rows);
  const outPath = path.resolve(options.path);
  await mkdir(path.dirname(outPath), { recursive: true });

  await withDuckDB(async (connection) => {
    await connection.run(
      `CREATE TABLE stage (${STAGE_COLUMNS.map((c) => `${c} DOUBLE`).join(", ")})`,
    );
    await appendTrips(connection, options, rows);
    await connection.run(
      `COPY (${finalSelect(options.year)}) TO ${sqlString(outPath)} (FORMAT parquet)`,
    );
  });
  return { path: outPath, rows };
}

function checkOptions(options: SampleTripsOptions, rows: number): void {
  if (!Number.isInteger(options.month) || options.month < 1 || options.month > 12) {
    throw new UserError(`month must be an integer from 1 to 12, got ${options.month}`);
  }
  if (!Number.isInteger(options.year) || options.year < 2000 || options.year > 2100) {
    throw new UserError(`year must be an integer from 2000 to 2100, got ${options.year}`);
  }
  if (!Number.isInteger(rows) || rows < 1)
    throw new UserError(`rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(options.seed))
    throw new UserError(`seed must be an integer, got ${options.seed}`);
  const shift = options.shift ?? 0;
  if (!(shift >= 0 && shift <= 1))
    throw new UserError(`shift must be a number from 0 to 1, got ${shift}`);
}

async function appendTrips(
  connection: DuckDBConnection,
  options: SampleTripsOptions,
  rows: number,
): Promise<void> {
  // Mixing year and month into the seed makes consecutive months different samples.
  const random = new Random(
    (options.seed ^ Math.imul(options.year * 12 + options.month, 0x9e3779b1)) >>> 0,
  );
  const month = monthContext(options.year, options.month);
  const world = shiftedWorld(options.shift ?? 0);
  const appender = await connection.createAppender("stage");
  const trip = new Float64Array(STAGE_COLUMNS.length);
  const types = STAGE_COLUMNS.map(() => DOUBLE);
  try {
    for (let start = 0, chunkIndex = 0; start < rows; start += CHUNK_ROWS, chunkIndex++) {
      const count = Math.min(CHUNK_ROWS, rows - start);
      const chunk = DuckDBDataChunk.create(types, count);
      const vectors = STAGE_COLUMNS.map((_, c) => chunk.getColumnVector(c));
      for (let row = 0; row < count; row++) {
        generateTrip(random, world, month, trip);
        for (let c = 0; c < trip.length; c++)
          vectors[c].setItem(row, Number.isNaN(trip[c]) ? null : trip[c]);
      }
      for (const vector of vectors) vector.flush();
      appender.appendDataChunk(chunk);
      if (
        options.onProgress &&
        (chunkIndex % PROGRESS_EVERY_CHUNKS === 0 || start + count === rows)
      ) {
        options.onProgress(start + count, rows);
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/** Casts the staged doubles to the TLC schema (green taxi, as published since 2019). */
function finalSelect(year: number): string {
  // The improvement surcharge went from $0.30 to $1.00 with the 2023 fare increase.
  const improvement = year >= 2023 ? "1.0" : "0.3";
  return `
    SELECT
      CAST(VendorID AS BIGINT) AS VendorID,
      make_timestamp(CAST(pickup_s AS BIGINT) * 1000000) AS lpep_pickup_datetime,
      make_timestamp(CAST(dropoff_s AS BIGINT) * 1000000) AS lpep_dropoff_datetime,
      CASE store_and_fwd WHEN 1 THEN 'Y' WHEN 0 THEN 'N' END AS store_and_fwd_flag,
      RatecodeID,
      CAST(PULocationID AS BIGINT) AS PULocationID,
      CAST(DOLocationID AS BIGINT) AS DOLocationID,
      passenger_count,
      trip_distance,
      fare_amount,
      extra,
      mta_tax,
      tip_amount,
      tolls_amount,
      CAST(NULL AS DOUBLE) AS ehail_fee,
      CAST(${improvement} AS DOUBLE) AS improvement_surcharge,
      round(fare_amount + extra + mta_tax + tip_amount + tolls_amount + ${improvement}
            + coalesce(congestion_surcharge, 0), 2) AS total_amount,
      payment_type,
      trip_type,
      congestion_surcharge
    FROM (SELECT *, CAST(CASE WHEN trip_type = 2 THEN 0 ELSE 0.5 END AS DOUBLE) AS mta_tax FROM stage)`;
}

interface MonthContext {
  /** Seconds since the epoch of the month's first midnight (TLC times are naive local times). */
  startSeconds: number;
  days: number;
  /** Day of week (0 = Sunday) of the month's first day. */
  firstWeekday: number;
  meterDrop: number;
}

function monthContext(year: number, month: number): MonthContext {
  const start = Date.UTC(year, month - 1, 1);
  return {
    startSeconds: start / 1000,
    days: new Date(Date.UTC(year, month, 0)).getUTCDate(),
    firstWeekday: new Date(start).getUTCDay(),
    meterDrop: year >= 2023 ? 3 : 2.5,
  };
}

/** Fills `out` (indexed by STAGE_COLUMNS, NaN = null) with one trip. */
function generateTrip(
  random: Random,
  world: SampleWorld,
  month: MonthContext,
  out: Float64Array,
): void {
  const day = random.int(month.days);
  const hour = world.hourChoice.pick(random);
  const pickupSeconds = month.startSeconds + day * 86400 + hour * 3600 + random.int(3600);
  const weekday = (month.firstWeekday + day) % 7;

  const pu = world.pickup.pick(random);
  const dropoffZone = world.dropoff[pu].pick(random);

  const straight = zoneDistance(world, pu, dropoffZone);
  const roadMiles = pu === dropoffZone ? 0.5 + 0.6 * random.next() : 1.3 * straight;
  let distance = round2(
    roadMiles * Math.exp(0.25 * random.normal()) + 0.2 * Math.exp(0.5 * random.normal()),
  );

  // Minutes per mile: zones, the route itself and the hour all matter, so PU_DO carries signal
  // beyond distance.
  const logPace =
    Math.log(4.5) +
    world.zoneEffect[pu] +
    world.zoneEffect[dropoffZone] +
    world.routeEffect[pu * world.x.length + dropoffZone] +
    world.hourEffect[hour] +
    0.3 * random.normal();
  // Fixed overhead plus waiting (lights, loading) that does not scale with distance.
  let minutes = 1.5 + random.uniform(0, 3) + distance * Math.exp(logPace);

  // Meter errors as in the real data: trips ended at once, meters left running for hours, the
  // odd dropoff before pickup, and trips whose odometer reading is missing.
  const outlier = random.next();
  if (outlier < 0.009) {
    minutes = random.uniform(0, 0.95);
    if (random.next() < 0.5) distance = 0;
  } else if (outlier < 0.017) {
    minutes = 61 + 60 * Math.exp(1 + 0.8 * random.normal());
    minutes = Math.min(minutes, 1439);
  } else if (outlier < 0.0175) {
    minutes = -random.uniform(1, 30);
  } else if (outlier < 0.0255) {
    distance = 0;
  }
  const dropoffSeconds = pickupSeconds + Math.round(minutes * 60);

  const streetHailApp = random.next() < 0.06;
  const ratecode = streetHailApp ? NaN : pickRatecode(random);
  const tripType = streetHailApp ? NaN : ratecode === 5 || random.next() < 0.02 ? 2 : 1;
  const payment = streetHailApp ? NaN : pickPayment(random);

  const billedMinutes = Math.min(Math.max(minutes, 0), 60);
  const fare =
    ratecode === 5
      ? Math.round(random.uniform(8, 60))
      : roundTo(
          month.meterDrop + 2.5 * distance + 0.35 * Math.max(0, billedMinutes - 2.4 * distance),
          0.5,
        );
  const rush = weekday >= 1 && weekday <= 5 && hour >= 16 && hour < 20;
  const night = hour >= 20 || hour < 6;
  const extra = rush ? 1 : night ? 0.5 : 0;
  const tip = payment === 1 && random.next() < 0.8 ? round2(fare * random.uniform(0.1, 0.3)) : 0;
  const tolls = distance > 8 && random.next() < 0.25 ? 6.55 : 0;
  const congestion = world.congestionZone[pu] || world.congestionZone[dropoffZone] ? 2.75 : 0;

  out[COL.VendorID] = random.next() < 0.87 ? 2 : 1;
  out[COL.pickup_s] = pickupSeconds;
  out[COL.dropoff_s] = dropoffSeconds;
  out[COL.store_and_fwd] = streetHailApp ? NaN : random.next() < 0.004 ? 1 : 0;
  out[COL.RatecodeID] = ratecode;
  out[COL.PULocationID] = pu;
  out[COL.DOLocationID] = dropoffZone;
  out[COL.passenger_count] = streetHailApp ? NaN : pickPassengers(random);
  out[COL.trip_distance] = distance;
  out[COL.fare_amount] = fare;
  out[COL.extra] = extra;
  out[COL.tip_amount] = tip;
  out[COL.tolls_amount] = tolls;
  out[COL.payment_type] = payment;
  out[COL.trip_type] = tripType;
  out[COL.congestion_surcharge] = streetHailApp ? NaN : congestion;
}

function pickRatecode(random: Random): number {
  const u = random.next();
  return u < 0.96 ? 1 : u < 0.99 ? 5 : u < 0.995 ? 2 : u < 0.998 ? 4 : 3;
}

function pickPayment(random: Random): number {
  const u = random.next();
  return u < 0.57 ? 1 : u < 0.97 ? 2 : u < 0.99 ? 3 : 4;
}

function pickPassengers(random: Random): number {
  const u = random.next();
  return u < 0.84
    ? 1
    : u < 0.92
      ? 2
      : u < 0.95
        ? 5
        : u < 0.97
          ? 3
          : u < 0.985
            ? 6
            : u < 0.993
              ? 4
              : 0;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function roundTo(value: number, step: number): number {
  return Math.round(value / step) * step;
}
