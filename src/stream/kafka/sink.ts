import { Partitioners, type Kafka, type Producer } from "kafkajs";
import type { StreamSink } from "../types.js";
import { UnreachableError } from "../../config/errors.js";
import { connectAdmin, createKafka, ensureTopic, errorMessage } from "./client.js";
import { parseKafkaUrl, type KafkaTarget } from "./url.js";

/**
 * Send retries before publish() fails: kafkajs backs off 0.3 s, 0.6 s … up to 30 s, so about a
 * minute of broker trouble, like the NATS and Redis sinks. An idempotent producer defaults to
 * retrying forever, which would hang the consumer loop silently instead of failing it.
 */
const SEND_RETRIES = 8;

/**
 * Publishes with acks=-1 (all in-sync replicas) and resolves once the partition leaders
 * confirmed, i.e. the messages are as durable as the topic's min.insync.replicas makes them.
 *
 * The message key is the Kafka key, so one ride's events stay in one partition (murmur2, the
 * same partition a Java client picks for that key). Messages without a key are spread by the
 * default partitioner.
 *
 * The producer is idempotent by default: a send retried after a lost reply is not written
 * twice, and retries cannot reorder a partition. `?idempotent=false` turns it off for brokers
 * that refuse it (an ACL without IdempotentWrite on old clusters). Idempotence covers kafkajs'
 * own retries only: if publish() fails and the consumer loop retries the batch, or the process
 * dies between publish and ack, the predictions are published again (at-least-once).
 */
export class KafkaSink implements StreamSink {
  readonly description: string;
  private readonly kafka: Kafka;
  private producer: Producer | null = null;

  constructor(private readonly target: KafkaTarget) {
    this.description = target.description;
    this.kafka = createKafka(target);
  }

  async open(): Promise<void> {
    if (this.producer) return;
    const admin = this.kafka.admin();
    await connectAdmin(admin, this.target);
    try {
      await ensureTopic(admin, this.target);
    } finally {
      await admin.disconnect();
    }
    const producer = this.kafka.producer({
      idempotent: this.target.idempotent,
      // Our publish awaits each send, so one request in flight costs nothing and keeps order.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: SEND_RETRIES },
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw new UnreachableError(`cannot connect to ${this.description}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.producer = producer;
  }

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    const { producer } = this;
    if (!producer) throw new Error(`${this.description}: publish() before open()`);
    if (messages.length === 0) return;
    try {
      await producer.send({
        topic: this.target.topic,
        acks: -1,
        messages: messages.map((m) => ({ key: m.key ?? null, value: toBuffer(m.data) })),
      });
    } catch (err) {
      throw new Error(
        `${this.description}: ${messages.length} messages not acknowledged: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    const { producer } = this;
    this.producer = null;
    await producer?.disconnect();
  }
}

/** A Buffer view of the bytes (no copy): kafkajs writes Buffers verbatim. */
function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function openKafkaSink(url: string): KafkaSink {
  return new KafkaSink(parseKafkaUrl(url));
}
