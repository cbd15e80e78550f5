/** Rides for the SQL source/sink tests: shuffled ids, pickup ties, microseconds, NULLs and bad values. */
export interface Ride {
  ride_id: number;
  /** `YYYY-MM-DD HH:MM:SS.ffffff`, or null (never read when it is the since column). */
  lpep_pickup_datetime: string | null;
  /** Microseconds since the base time, for computing the expected order. */
  micros: number | null;
  PULocationID: number;
  DOLocationID: number;
  trip_distance: number | null;
}

const BASE_MS = Date.UTC(2024, 0, 1);

/** Microseconds after 2024-01-01 as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC). */
export function timestampText(micros: number): string {
  const iso = new Date(BASE_MS + Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros % 1000).padStart(3, "0")}`;
}

export function makeRides(count: number): Ride[] {
  const rides: Ride[] = [];
  for (let i = 0; i < count; i++) {
    // Pickup order differs from id order; groups of four share a second, and within a
    // group two rides tie exactly and two differ from them by 1 and 2 µs.
    const p = (i * 13) % count;
    const micros = Math.floor(p / 4) * 1_000_003 + [0, 0, 1, 2][p % 4];
    const nullPickup = p % 50 === 49;
    rides.push({
      ride_id: 1000 + i * 7,
      lpep_pickup_datetime: nullPickup ? null : timestampText(micros),
      micros: nullPickup ? null : micros,
      PULocationID: 1 + (i % 10),
      DOLocationID: 1 + ((i * 3) % 10),
      trip_distance: i % 97 === 0 ? null : i % 101 === 0 ? -1 : (i % 20) / 2,
    });
  }
  // Inserted in neither id nor pickup order.
  return rides.reverse();
}

export function byId(rides: readonly Ride[]): number[] {
  return rides.map((ride) => ride.ride_id).sort((a, b) => a - b);
}

export function bySince(rides: readonly Ride[]): number[] {
  return rides
    .filter((ride) => ride.micros !== null)
    .sort((a, b) => a.micros! - b.micros! || a.ride_id - b.ride_id)
    .map((ride) => ride.ride_id);
}
