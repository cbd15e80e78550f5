import { randomBytes } from "node:crypto";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll } from "vitest";

export const NATS_SERVER = process.env.MLDEPLOY_TEST_NATS ?? "127.0.0.1:4222";

const created: string[] = [];
let admin: Promise<{ nc: NatsConnection; jsm: JetStreamManager }> | null = null;

/** A connection for assertions and cleanup, separate from the transport under test. */
export function adminJsm(): Promise<JetStreamManager> {
  admin ??= (async () => {
    const nc = await connect({ servers: NATS_SERVER });
    return { nc, jsm: await nc.jetstreamManager() };
  })();
  return admin.then((a) => a.jsm);
}

/** A fresh stream name (one per test, so tests never see each other's messages). */
export function uniqueStream(label: string): string {
  const name = `mldeploy_test_${label}_${randomBytes(4).toString("hex")}`;
  created.push(name);
  return name;
}

export function streamUrl(stream: string, query = ""): string {
  return `nats://${NATS_SERVER}/${stream}${query}`;
}

export function payload(i: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ride_id: i, ride: { trip_distance: i / 10 } }));
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

afterAll(async () => {
  // Streams made by the transport under test (not through adminJsm) must go too.
  if (created.length === 0 && !admin) return;
  await adminJsm();
  const { nc, jsm } = await admin!;
  for (const name of created.splice(0)) {
    await jsm.streams.delete(name).catch(() => false);
  }
  await nc.close();
});
