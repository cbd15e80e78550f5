import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { openRedisSink, openRedisSource } from "../../../src/stream/redis/index.js";
import { describeTransportContract } from "../contract.js";

const REDIS = process.env.MLDEPLOY_TEST_REDIS ?? "redis://127.0.0.1:6379";
const RUN = randomUUID().slice(0, 8);
/** Pending entries of a closed consumer are claimed by the next read after 1 s (default 30 s). */
const CLAIM_IDLE_MS = 1000;

const keys: string[] = [];
let admin: Redis | null = null;

/** A connection for assertions and cleanup, separate from the transport under test. */
async function adminClient(): Promise<Redis> {
  if (!admin) {
    admin = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
  }
  return admin;
}

const urlOf = (key: string): string => `${REDIS}/${encodeURIComponent(key)}`;

describeTransportContract("Redis Streams", {
  newStream: () => {
    const key = `mldeploy-test:${RUN}:contract:${keys.length}`;
    keys.push(key);
    return key;
  },
  source: (key, settings) =>
    openRedisSource(urlOf(key), { ...settings, claimIdleMs: CLAIM_IDLE_MS }),
  sink: (key) => openRedisSink(urlOf(key)),
  redeliveryMs: CLAIM_IDLE_MS,
  storedCount: async (key) => (await adminClient()).xlen(key),
  cleanup: async () => {
    const client = await adminClient();
    if (keys.length > 0) await client.del(...keys.splice(0));
    await client.quit();
    admin = null;
  },
});
