/**
 * The benchmark's reader of the prediction stream: records when each ride's prediction
 * arrives. It reads without a consumer group (a JetStream ordered consumer, a Redis XREAD), so
 * it acknowledges nothing and costs the machine as little as possible.
 */
import { connect, type ConsumerMessages } from "nats";
import { connect as connectRedis, createConnection } from "../stream/redis/connection.js";
import { parseNatsUrl } from "../stream/nats/url.js";
import { parseRedisStreamUrl } from "../stream/redis/url.js";
import { sharedClock, type Broker } from "./stream-events.js";

export interface Arrivals {
  /** Arrival time of each ride's first prediction (NaN = none yet), on sharedClock(). */
  received: Float64Array;
  distinct: number;
  duplicates: number;
  /** Arrival of the last distinct prediction. */
  lastAt: number;
}

export interface PredictionReader {
  /** Resolves once every ride has a prediction, or at the deadline (then `distinct` tells). */
  until(deadline: number): Promise<Arrivals>;
  close(): Promise<void>;
}

const decoder = new TextDecoder();

function recorder(events: number): { arrivals: Arrivals; record(data: Uint8Array): void } {
  const arrivals: Arrivals = {
    received: new Float64Array(events).fill(NaN),
    distinct: 0,
    duplicates: 0,
    lastAt: 0,
  };
  return {
    arrivals,
    record(data) {
      const now = sharedClock();
      const event = JSON.parse(decoder.decode(data)) as { prediction?: { ride_id?: unknown } };
      const id = event.prediction?.ride_id;
      if (typeof id !== "number" || !(id >= 0 && id < events)) return;
      if (Number.isNaN(arrivals.received[id])) {
        arrivals.received[id] = now;
        arrivals.distinct++;
        arrivals.lastAt = now;
      } else arrivals.duplicates++;
    },
  };
}

/** Polls `done` until true or the deadline. */
async function waitFor(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

export async function openReader(
  broker: Broker,
  url: string,
  events: number,
): Promise<PredictionReader> {
  const { arrivals, record } = recorder(events);
  const complete = () => arrivals.distinct >= events;
  if (broker === "nats") {
    const target = parseNatsUrl(url);
    const nc = await connect({
      servers: target.server,
      user: target.user,
      pass: target.pass,
      token: target.token,
    });
    const consumer = await nc.jetstream().consumers.get(target.stream);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 5000 });
    const loop = (async () => {
      for await (const msg of messages) record(msg.data);
    })();
    return {
      async until(deadline) {
        await waitFor(complete, deadline);
        return arrivals;
      },
      async close() {
        messages.stop();
        await loop.catch(() => undefined);
        await nc.close();
      },
    };
  }
  const target = parseRedisStreamUrl(url);
  const client = createConnection(target, "mldeploy-bench-reader");
  await connectRedis(client, target.description);
  let stopped = false;
  const loop = (async () => {
    let last = "0-0";
    while (!stopped && !complete()) {
      const reply = await client.xreadBuffer(
        "COUNT",
        10_000,
        "BLOCK",
        200,
        "STREAMS",
        target.stream,
        last,
      );
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          last = id.toString();
          for (let i = 0; i + 1 < fields.length; i += 2) {
            if (fields[i].toString() === "data") record(fields[i + 1]);
          }
        }
      }
    }
  })();
  return {
    async until(deadline) {
      await waitFor(() => complete() || stopped, deadline);
      return arrivals;
    },
    async close() {
      stopped = true;
      await loop.catch(() => undefined);
      client.disconnect();
    },
  };
}
