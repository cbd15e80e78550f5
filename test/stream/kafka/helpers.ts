import { randomBytes } from "node:crypto";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll } from "vitest";
import { startMockCluster, type MockCluster } from "./mock-cluster.js";

/**
 * The Kafka-protocol broker of the Kafka tests. `MLDEPLOY_TEST_KAFKA_BROKERS=host:9092` points
 * them at a real Kafka cluster (docs/kafka.md); otherwise each test file starts librdkafka's
 * mock cluster (mock-cluster.c, from Debian's librdkafka-dev), which speaks the Kafka protocol
 * over TCP to the real kafkajs client: produce, fetch, consumer groups and offset commits. No
 * Apache Kafka can be installed on the dev box (not in Debian, not on npm, Maven unreachable).
 * Without either the tests are skipped, with the reason.
 */
const EXTERNAL_BROKERS = process.env.MLDEPLOY_TEST_KAFKA_BROKERS;

async function startMock(): Promise<MockCluster | string> {
  try {
    return await startMockCluster();
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

const mock = EXTERNAL_BROKERS ? undefined : await startMock();

export const KAFKA_BROKERS: string | undefined =
  EXTERNAL_BROKERS ?? (typeof mock === "object" ? mock.brokers : undefined);
export const NO_KAFKA =
  "skipped: no Kafka-protocol broker: set MLDEPLOY_TEST_KAFKA_BROKERS=host:9092, or " +
  `apt-get install librdkafka-dev for the mock cluster (${typeof mock === "string" ? mock : ""})`;
/** The broker is librdkafka's mock cluster (no admin API; topics made through it). */
export const MOCK_CLUSTER: MockCluster | undefined = typeof mock === "object" ? mock : undefined;

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

/**
 * A fresh topic name, deleted after the file. On a real cluster the transport creates it
 * (?create=true in topicUrl); the mock cluster has no CreateTopics, so it is made here.
 */
export async function uniqueTopic(label: string, partitions: number): Promise<string> {
  const name = `mldeploy_test_${label}_${randomBytes(4).toString("hex")}`;
  topics.push(name);
  await MOCK_CLUSTER?.createTopic(name, partitions);
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
    `&sessionTimeout=6000&heartbeatInterval=500${MOCK_CLUSTER ? MOCK_SETTINGS : ""}${extra}`
  );
}

/**
 * The mock cluster (librdkafka 2.0) reports controller id 0, a broker it does not have, and
 * kafkajs sends an idempotent producer's InitProducerId to the controller: against the mock
 * the sink runs with the idempotent producer off (the setting users of brokers without
 * idempotence need too).
 */
const MOCK_SETTINGS = "&idempotent=false";

/** Messages the topic holds: sum over partitions of high minus low watermark. */
export async function storedCount(topic: string): Promise<number> {
  const offsets = await (await kafkaAdmin()).fetchTopicOffsets(topic);
  return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
}

export async function cleanupKafka(): Promise<void> {
  if (!admin) return;
  if (MOCK_CLUSTER) return cleanupKafkaClient();
  const client = await admin;
  admin = null;
  if (groups.length > 0) await client.deleteGroups(groups.splice(0)).catch(() => undefined);
  if (topics.length > 0) {
    await client.deleteTopics({ topics: topics.splice(0) }).catch(() => undefined);
  }
  await client.disconnect();
}

afterAll(async () => {
  if (MOCK_CLUSTER) {
    // Its topics and groups live in its memory only.
    await cleanupKafkaClient();
    await MOCK_CLUSTER.close();
    return;
  }
  // Topics made by a test that never opened the admin connection must go too.
  if (!KAFKA_BROKERS || topics.length === 0) return;
  await kafkaAdmin();
  await cleanupKafka();
});

/** Closes the admin connection without deleting anything (the mock has no admin API). */
async function cleanupKafkaClient(): Promise<void> {
  const client = admin;
  admin = null;
  topics.splice(0);
  groups.splice(0);
  if (client) await (await client).disconnect();
}
