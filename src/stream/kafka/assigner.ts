import { AssignerProtocol, type Assigner, type PartitionAssigner } from "kafkajs";

export const ASSIGNER_NAME = "MldeploySubscribedRoundRobin";
const VERSION = 0;
const NO_USER_DATA = Buffer.alloc(0);

/**
 * Round-robin of each topic's partitions over the group members subscribed to that topic.
 *
 * kafkajs' own RoundRobinAssigner deals the partitions of the leader's topics over all
 * members, whatever each one subscribed to, and members drop partitions of topics they did not
 * subscribe to. A Kafka group spans topics, and every `mldeploy stream` is in the group
 * "mldeploy" unless told otherwise: with two deployments reading different topics, the
 * non-leader's topic was read by nobody and part of the leader's topic went unread too
 * (reproduced in test/stream/kafka/transport.test.ts). This assigner gives each topic's
 * partitions to the members that subscribed to it, as Java's assigners do.
 */
export const subscribedRoundRobin: PartitionAssigner = ({ cluster }): Assigner => ({
  name: ASSIGNER_NAME,
  version: VERSION,

  // kafkajs passes `topics` = the leader's own subscriptions only; the members' metadata says
  // what each of them subscribed to.
  async assign({ members }) {
    const subscribers = new Map<string, string[]>();
    for (const { memberId, memberMetadata } of members) {
      const metadata = AssignerProtocol.MemberMetadata.decode(memberMetadata);
      for (const topic of metadata?.topics ?? []) {
        const list = subscribers.get(topic);
        if (list) list.push(memberId);
        else subscribers.set(topic, [memberId]);
      }
    }
    // The leader knows the partitions of its own topics only until it asks for the others.
    const topics = [...subscribers.keys()].sort();
    await cluster.addMultipleTargetTopics(topics);
    const assignment = new Map<string, Record<string, number[]>>();
    for (const topic of topics) {
      const ids = subscribers.get(topic)!.sort();
      const partitions = cluster
        .findTopicPartitionMetadata(topic)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      partitions.forEach((partition, i) => {
        const id = ids[i % ids.length];
        let own = assignment.get(id);
        if (!own) assignment.set(id, (own = {}));
        (own[topic] ??= []).push(partition);
      });
    }
    return members.map(({ memberId }) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: VERSION,
        assignment: assignment.get(memberId) ?? {},
        userData: NO_USER_DATA,
      }),
    }));
  },

  protocol({ topics }) {
    return {
      name: ASSIGNER_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: NO_USER_DATA,
      }),
    };
  },
});
