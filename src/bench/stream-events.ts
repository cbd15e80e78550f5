/**
 * What the stream benchmark sends and how it times it, shared by the producer (a worker
 * thread) and the reader (the main thread).
 */

/** Ride `i` in the original Kinesis event format; ride_id = i, so a prediction names its event. */
export function rideEvent(i: number): string {
  return JSON.stringify({
    ride: {
      PULocationID: 1 + ((i * 37) % 265),
      DOLocationID: 1 + ((i * 91) % 265),
      trip_distance: ((i * 13) % 200) / 10,
    },
    ride_id: i,
  });
}

/**
 * Milliseconds on a clock both threads share: performance.now() alone counts from each
 * thread's own origin, so a publish time taken in the worker would not compare with a
 * receive time taken in the main thread.
 */
export function sharedClock(): number {
  return performance.timeOrigin + performance.now();
}

/** The producer's publish time of each event, by ride_id (NaN = not published yet). */
export function sentTimes(buffer: SharedArrayBuffer): Float64Array {
  return new Float64Array(buffer);
}

export type Broker = "nats" | "redis";

export interface ProducerJob {
  broker: Broker;
  url: string;
  events: number;
  /** Events per second; undefined = as fast as the broker takes them. */
  rate?: number;
  sent: SharedArrayBuffer;
}

export interface ProducerDone {
  published: number;
  ms: number;
}
