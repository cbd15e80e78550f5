/**
 * Which offsets of a partition may be committed.
 *
 * Kafka keeps one committed offset per partition and group: "everything before this offset
 * is done". Acks arrive per message and not necessarily in order (two batches in flight, a
 * retried ack), so the offset to commit is the end of the acked PREFIX of what was handed
 * out: with 5, 6, 7 handed out and 5, 7 acked, only 6 may be committed (= "5 is done"),
 * never 8, which would skip the unacked 6 for good if this consumer died now.
 *
 * Offsets of one partition are handed out in increasing order (a partition is one ordered
 * log, fetched in order), which is what makes "the prefix" well defined.
 */
export class PartitionProgress {
  /** Handed out and not yet behind the committable point, in increasing order. */
  private readonly outstanding: bigint[] = [];
  /** The same offsets as a set, so an ack finds its offset without a scan. */
  private readonly known = new Set<bigint>();
  private readonly acked = new Set<bigint>();
  /** Next offset to read after everything acked in order: what a commit would store. */
  private committable: bigint | undefined;
  private committed: bigint | undefined;

  /** Messages handed out and not acked yet (for the in-flight bound). */
  get unacked(): number {
    return this.outstanding.length - this.acked.size;
  }

  handOut(offset: bigint): void {
    const last = this.outstanding.at(-1);
    if (last !== undefined && offset <= last) {
      throw new Error(`offset ${offset} handed out after ${last}: partition order broken`);
    }
    this.outstanding.push(offset);
    this.known.add(offset);
  }

  /** Marks a handed-out offset done; false when it is unknown here (or acked before). */
  ack(offset: bigint): boolean {
    if (this.acked.has(offset) || !this.known.has(offset)) return false;
    this.acked.add(offset);
    while (this.outstanding.length > 0 && this.acked.has(this.outstanding[0])) {
      const done = this.outstanding.shift()!;
      this.acked.delete(done);
      this.known.delete(done);
      this.committable = done + 1n;
    }
    return true;
  }

  /** The offset to commit now, or undefined when the last commit already covers it. */
  pendingCommit(): bigint | undefined {
    if (this.committable === undefined) return undefined;
    if (this.committed !== undefined && this.committed >= this.committable) return undefined;
    return this.committable;
  }

  /** Records a successful commit (of this offset, possibly older than the newest acks). */
  markCommitted(offset: bigint): void {
    if (this.committed === undefined || offset > this.committed) this.committed = offset;
  }
}
