import { randomBytes } from "node:crypto";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll } from "vitest";

/**
 * A real Kafka broker for the Kafka tests, e.g. `MLDEPLOY_TEST_KAFKA_BROKERS=127.0.0.1:9092`
 * (docs/kafka.md shows how to start one). Without it those tests are skipped: no Kafka-protocol
 * broker can be installed on the dev box (not in Debian, not on npm), and a fake broker or a
 * mocked kafkajs would only test our assumptions about Kafka.
 */
export const KAFKA_BROKERS = process.env.MLDEPLOY_TEST_KAFKA_BROKERS;
export const NO_KAFKA =
  "skipped: set MLDEPLOY_TEST_KAFKA_BROKERS=host:9092 to run against a real Kafka broker (docs/kafka.md)";

const topics: string[] = [];
const groups: string[] = [];
let admin: Promise<Admin> | null = null;

/** An admin connection for assertions and cleanup, separate from the transport under test. */
export function kafkaAdmin(): Promise<Admin> {
  admin ??= (async () => {
    const client = new Kafka({
      brokers: (KAFKA_BROKERS ?? "").split(","),
      clientId: "mldeploy-test-admin",
      logLevel: logLevel.ERROR,
    }).admin();
    await client.connect();
    return client;
  })();
  return admin;
}

/** A fresh topic name (created by the transport with ?create=true), deleted after the file. */
export function uniqueTopic(label: string): string {
  const name = `mldeploy_test_${label}_${randomBytes(4).toString("hex")}`;
  topics.push(name);
  return name;
}

/** Remembers a consumer group a test used, to delete it with the topics. */
export function usedGroup(group: string): string {
  if (!groups.includes(group)) groups.push(group);
  return group;
}

/**
 * The transport's URL for a test topic: created with `partitions` partitions, and a fast
 * heartbeat so that rebalances (a member joining or leaving) settle in about a second.
 */
export function topicUrl(topic: string, partitions: number, extra = ""): string {
  return (
    `kafka://${KAFKA_BROKERS}/${topic}?create=true&partitions=${partitions}` +
    `&sessionTimeout=6000&heartbeatInterval=500${extra}`
  );
}

/** Messages the topic holds: sum over partitions of high minus low watermark. */
export async function storedCount(topic: string): Promise<number> {
  const offsets = await (await kafkaAdmin()).fetchTopicOffsets(topic);
  return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
}

export async function cleanupKafka(): Promise<void> {
  if (!admin) return;
  const client = await admin;
  admin = null;
  if (groups.length > 0) await client.deleteGroups(groups.splice(0)).catch(() => undefined);
  if (topics.length > 0) {
    await client.deleteTopics({ topics: topics.splice(0) }).catch(() => undefined);
  }
  await client.disconnect();
}

afterAll(async () => {
  // Topics made by a test that never opened the admin connection must go too.
  if (!KAFKA_BROKERS || topics.length === 0) return;
  await kafkaAdmin();
  await cleanupKafka();
});
