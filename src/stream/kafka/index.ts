/**
 * Kafka transport (kafkajs): `kafka://host:9092[,host2:9092]/<topic>[?settings]` (see url.ts
 * for the settings). Source = consumer group member with manual commits after ack (source.ts),
 * sink = producer with acks=all (sink.ts).
 */
export { KafkaSink, openKafkaSink } from "./sink.js";
export { KafkaSource, openKafkaSource } from "./source.js";
export { parseKafkaUrl, type KafkaTarget } from "./url.js";
