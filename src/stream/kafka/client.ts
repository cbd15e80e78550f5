import {
  Kafka,
  logLevel,
  type Admin,
  type KafkaConfig,
  type LogEntry,
  type SASLOptions,
} from "kafkajs";
import { UnreachableError, UserError } from "../../config/errors.js";
import type { KafkaTarget } from "./url.js";

/** One kafkajs client for a source or sink. */
export function createKafka(target: KafkaTarget): Kafka {
  const config: KafkaConfig = {
    brokers: target.brokers,
    clientId: target.clientId,
    ssl: target.ssl,
    logLevel: logLevel.ERROR,
    logCreator: () => writeLog,
  };
  if (target.sasl) config.sasl = saslOptions(target.sasl);
  return new Kafka(config);
}

/**
 * kafkajs logs every failed connection attempt of its retry loops (a dozen JSON lines for one
 * unreachable broker), though those failures reach us as rejected calls anyway. Only the
 * consumer's own errors (a crash, a restart) would otherwise go unseen, so only they are
 * written, as one JSON line on stderr. KAFKAJS_LOG_LEVEL=info (kafkajs' own variable) shows
 * everything again, for debugging.
 */
function writeLog({ namespace, label, log }: LogEntry): void {
  if (namespace !== "Consumer" && !process.env.KAFKAJS_LOG_LEVEL) return;
  process.stderr.write(`${JSON.stringify({ level: label, namespace, ...log })}\n`);
}

/** kafkajs types SASL options per mechanism literal: narrow ours branch by branch. */
function saslOptions({
  mechanism,
  username,
  password,
}: NonNullable<KafkaTarget["sasl"]>): SASLOptions {
  switch (mechanism) {
    case "plain":
      return { mechanism, username, password };
    case "scram-sha-256":
      return { mechanism, username, password };
    case "scram-sha-512":
      return { mechanism, username, password };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Connects the admin client with an error that names the brokers, never the password. */
export async function connectAdmin(admin: Admin, target: KafkaTarget): Promise<void> {
  try {
    await admin.connect();
  } catch (err) {
    throw new UnreachableError(`cannot connect to ${target.description}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * Checks that the topic exists, or creates it with `?create=true`. Without create a missing
 * topic is a user error: relying on the brokers' auto-creation would silently make a topic
 * with the cluster's default partitions (often 1, so the group could not scale out).
 */
export async function ensureTopic(admin: Admin, target: KafkaTarget): Promise<void> {
  const topics = await admin.listTopics();
  if (topics.includes(target.topic)) return;
  if (!target.create) {
    throw new UserError(
      `Kafka topic "${target.topic}" does not exist on ${target.brokers.join(",")}: ` +
        `create it, or add ?create=true&partitions=N to the URL`,
    );
  }
  // Resolves false when another process created it meanwhile, which is fine.
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic: target.topic,
        numPartitions: target.create.partitions,
        replicationFactor: target.create.replicationFactor ?? -1,
      },
    ],
  });
}
