import type { Lease } from "./checkpoints/lease-store.js";

/**
 * Which leases a consumer should try to take, given the whole lease table: the KCL's
 * balancing rule, simplified.
 *
 * - Only shards that can be read now count: not finished, and every parent finished (after
 *   a split or merge, a child's records for a key come after its parents', so children wait).
 *   A parent missing from the table (aged out of the stream) counts as finished.
 * - Live consumers are those holding an unexpired lease, plus ourselves; each should hold
 *   about `ceil(readable / consumers)`.
 * - Free and expired leases are taken first, as many as we are short of that target.
 * - Otherwise one lease per round is taken from the most loaded consumer, when it holds more
 *   than the target, or the target while we hold at least two fewer. One per round, so that
 *   a newcomer does not take everything at once and the victim notices on its next renewal.
 */
export interface LeasePlan {
  /** Free or expired leases to take. */
  take: Lease[];
  /** A live lease of another consumer to take over, if balancing calls for it. */
  steal?: Lease;
  /** Shards readable now (for logs and tests). */
  readable: number;
  target: number;
}

export function planLeases(
  leases: readonly Lease[],
  me: string,
  /** The shards we are reading now; a lease in our name without a reader is a leftover. */
  held: ReadonlySet<string>,
  now: number,
): LeasePlan {
  const finished = new Set(leases.filter((l) => l.finished).map((l) => l.shardId));
  const known = new Set(leases.map((l) => l.shardId));
  const readable = leases.filter(
    (l) => !l.finished && l.parents.every((p) => finished.has(p) || !known.has(p)),
  );
  // A lease in our name that we do not read is left over from an earlier process with the
  // same consumer name (killed, restarted): free for the taking, or nobody would read it.
  const live = (l: Lease) =>
    l.owner !== null && l.expiresAt > now && (l.owner !== me || held.has(l.shardId));

  const counts = new Map<string, number>([[me, 0]]);
  for (const lease of readable) {
    if (live(lease)) counts.set(lease.owner!, (counts.get(lease.owner!) ?? 0) + 1);
  }
  const target = readable.length === 0 ? 0 : Math.ceil(readable.length / counts.size);
  const mine = counts.get(me) ?? 0;
  const plan: LeasePlan = { take: [], readable: readable.length, target };
  if (mine >= target) return plan;

  // Shards we read are not free even if their lease lapsed: renewal decides whether they are ours.
  const free = readable.filter((l) => !live(l) && !held.has(l.shardId));
  plan.take = free.slice(0, target - mine);
  if (plan.take.length > 0) return plan;

  let victim: string | undefined;
  let most = 0;
  for (const [owner, count] of counts) {
    if (
      owner !== me &&
      (count > most || (count === most && victim !== undefined && owner < victim))
    ) {
      victim = owner;
      most = count;
    }
  }
  if (victim !== undefined && (most > target || (most === target && mine < target - 1))) {
    plan.steal = readable.find((l) => live(l) && l.owner === victim);
  }
  return plan;
}
