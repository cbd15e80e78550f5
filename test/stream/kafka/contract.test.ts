import { openKafkaSink, openKafkaSource } from "../../../src/stream/kafka/index.js";
import type { KafkaSource } from "../../../src/stream/kafka/index.js";
import { describeTransportContract } from "../contract.js";
import {
  cleanupKafka,
  KAFKA_BROKERS,
  NO_KAFKA,
  storedCount,
  topicUrl,
  uniqueTopic,
  usedGroup,
} from "./helpers.js";

/** Several partitions, so that the sharing test has something to share. */
const PARTITIONS = 3;

describeTransportContract(
  "Kafka",
  {
    newStream: () => uniqueTopic("contract", PARTITIONS),
    source: (topic, { group, consumer }) =>
      openKafkaSource(topicUrl(topic, PARTITIONS), { group: usedGroup(group), consumer }),
    sink: (topic) => openKafkaSink(topicUrl(topic, PARTITIONS)),
    // A consumer that leaves the group releases its partitions at once (LeaveGroup): the next
    // member starts at the committed offsets as soon as it has joined, i.e. after settleMs.
    redeliveryMs: 0,
    // A join is noticed by the other members at their next heartbeat (500 ms here) or idle
    // fetch (500 ms), then the group syncs: a second or two; 4 s leaves room on a busy box.
    settleMs: 4_000,
    groupSessions: (source) => (source as KafkaSource).groupSessions,
    storedCount,
    cleanup: cleanupKafka,
  },
  KAFKA_BROKERS ? undefined : NO_KAFKA,
);
