import type { Admin } from "kafkajs";

/**
 * Messages of the topic the group has not committed yet, summed over partitions: the high
 * watermark (next offset to be written) minus the group's committed offset. A partition the
 * group never committed counts from its low watermark, since a new group starts at the
 * beginning (fromBeginning), as does a committed offset that retention has deleted past.
 *
 * Messages read but not yet acked are still counted: only a commit moves the group along.
 */
export async function groupLag(admin: Admin, topic: string, groupId: string): Promise<number> {
  const [committed, ends] = await Promise.all([
    admin.fetchOffsets({ groupId, topics: [topic] }),
    admin.fetchTopicOffsets(topic),
  ]);
  const byPartition = new Map<number, bigint>();
  for (const { partition, offset } of committed.find((t) => t.topic === topic)?.partitions ?? []) {
    byPartition.set(partition, BigInt(offset));
  }
  let total = 0n;
  for (const { partition, high, low } of ends) {
    const start = BigInt(low);
    const done = byPartition.get(partition) ?? -1n; // -1 = no commit yet
    const behind = BigInt(high) - (done > start ? done : start);
    if (behind > 0n) total += behind;
  }
  return Number(total);
}
