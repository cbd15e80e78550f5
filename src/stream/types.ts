/**
 * The stream transport contract: one interface over Kinesis, NATS JetStream, Redis Streams
 * and Kafka, and one consumer loop on top (src/stream/consumer.ts).
 *
 * Delivery is at-least-once: the loop reads a batch, predicts, publishes the predictions
 * (and dead letters), waits until the broker confirmed them, and only then acknowledges the
 * input messages. A crash between publish and ack redelivers those inputs; nothing is lost.
 *
 * Concurrency: the loop pipelines batches, so a source's read() may run while an earlier
 * batch's ack() is in progress, and a sink's publish() while the source reads. Calls of one
 * kind never overlap: one read() at a time, one publish() per sink at a time, acks in order.
 */

/** One input message as read from the broker. */
export interface StreamMessage {
  /** The payload bytes as published (a JSON event for the ride model). */
  data: Uint8Array;
  /** Broker position, for logs and dead letters (sequence number, stream entry id …). */
  position: string;
  /** Partition/shard/subject it came from, when the broker has one. */
  partition?: string;
  /** How many times the broker has delivered it (1 = first time), when known. */
  deliveries?: number;
}

export interface ReadBatchOptions {
  /** At most this many messages. */
  maxMessages: number;
  /** Return what arrived after this long, even fewer than maxMessages (may return []). */
  maxWaitMs: number;
}

/** Where to read: a stream/subject/topic and the consumer group sharing it. */
export interface SourceSettings {
  /** Stream name (Kinesis stream, Redis stream key, Kafka topic, JetStream stream). */
  stream: string;
  /** Consumer group / durable consumer name: consumers with the same group share the work. */
  group: string;
  /** This consumer's name within the group (unique per process). */
  consumer: string;
}

export interface StreamSource {
  readonly description: string;
  /** Creates the group/durable consumer if missing (idempotent). */
  open(): Promise<void>;
  /** The next messages for this consumer (including ones redelivered after another consumer died). */
  read(options: ReadBatchOptions): Promise<StreamMessage[]>;
  /** Marks messages as processed: they will not be delivered again. */
  ack(messages: StreamMessage[]): Promise<void>;
  /**
   * How far this group is behind the head of the stream, when the broker can tell: for the
   * lag gauges of /metrics. Optional: a transport that cannot tell leaves it out.
   */
  lag?(): Promise<StreamLag | undefined>;
  close(): Promise<void>;
}

/** Consumer lag as the broker reports it: a count of messages, a time, or both. */
export interface StreamLag {
  /** Messages published but not yet acknowledged by this group (NATS, Redis, Kafka). */
  messages?: number;
  /** How far behind the newest record the group reads, in ms (Kinesis MillisBehindLatest). */
  behindMs?: number;
}

export interface StreamSink {
  readonly description: string;
  open(): Promise<void>;
  /** Publishes messages in order and resolves once the broker has durably accepted all of them. */
  publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void>;
  close(): Promise<void>;
}
