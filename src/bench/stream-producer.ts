/**
 * Worker thread of the stream benchmark: publishes the ride events with the product's sink,
 * writing each event's publish time into shared memory for the latency figures. It runs in its
 * own thread so that publishing does not delay the main thread's timing of arrivals.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openStreamSink } from "../stream/endpoints.js";
import type { StreamSink } from "../stream/types.js";
import {
  rideEvent,
  sentTimes,
  sharedClock,
  type ProducerDone,
  type ProducerJob,
} from "./stream-events.js";

/** Full speed: batches this large, this many publish() calls awaiting their PubAcks at once. */
const BATCH = 1000;
const IN_FLIGHT = 8;
/** Paced: at most this many small batches unconfirmed before the producer waits. */
const PACED_IN_FLIGHT = 64;

const job = workerData as ProducerJob;
const encoder = new TextEncoder();

async function fullSpeed(
  sink: StreamSink,
  payloads: Uint8Array[],
  sent: Float64Array,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  for (let from = 0; from < payloads.length; from += BATCH) {
    const to = Math.min(payloads.length, from + BATCH);
    const now = sharedClock();
    for (let i = from; i < to; i++) sent[i] = now;
    const publish = sink.publish(payloads.slice(from, to).map((data) => ({ data })));
    const tracked = publish.finally(() => pending.delete(tracked));
    pending.add(tracked);
    if (pending.size >= IN_FLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending);
}

/** Publishes on a schedule: at each tick, every event whose due time has come. */
async function paced(
  sink: StreamSink,
  payloads: Uint8Array[],
  sent: Float64Array,
  rate: number,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  const started = sharedClock();
  let next = 0;
  while (next < payloads.length) {
    const due = Math.min(
      payloads.length,
      Math.floor(((sharedClock() - started) * rate) / 1000) + 1,
    );
    if (due > next) {
      const now = sharedClock();
      for (let i = next; i < due; i++) sent[i] = now;
      const publish = sink.publish(payloads.slice(next, due).map((data) => ({ data })));
      next = due;
      const tracked = publish.finally(() => pending.delete(tracked));
      pending.add(tracked);
      if (pending.size >= PACED_IN_FLIGHT) await Promise.race(pending);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
}

async function main(): Promise<void> {
  const payloads = Array.from({ length: job.events }, (_, i) => encoder.encode(rideEvent(i)));
  const sent = sentTimes(job.sent);
  const sink = await openStreamSink(job.url);
  await sink.open();
  try {
    const started = performance.now();
    if (job.rate === undefined) await fullSpeed(sink, payloads, sent);
    else await paced(sink, payloads, sent, job.rate);
    const done: ProducerDone = { published: payloads.length, ms: performance.now() - started };
    parentPort?.postMessage(done);
  } finally {
    await sink.close();
  }
}

main().catch((error: unknown) => {
  // The main thread sees the worker's 'error' event; rethrowing outside the promise gets it there.
  setImmediate(() => {
    throw error;
  });
});
