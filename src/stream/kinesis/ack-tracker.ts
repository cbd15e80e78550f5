/**
 * Where a shard's checkpoint may move: past records delivered AND acknowledged, never past
 * one that is delivered but not acknowledged. Records are delivered in sequence order; acks
 * may come in any order (and for any subset), so the checkpoint is the last record of the
 * longest acknowledged prefix of the delivered ones.
 */
export class AckTracker {
  /** Delivered, not yet passed by the checkpoint, in delivery (= sequence) order. */
  private delivered: string[] = [];
  private readonly pending = new Set<string>();
  private readonly acked = new Set<string>();

  deliver(sequence: string): void {
    this.delivered.push(sequence);
    this.pending.add(sequence);
  }

  /** Marks a delivered record acknowledged; false when it is not one of ours (stale). */
  ack(sequence: string): boolean {
    if (this.acked.has(sequence)) return true;
    if (!this.pending.has(sequence)) return false;
    this.acked.add(sequence);
    return true;
  }

  /**
   * Drops the acknowledged prefix and returns its last sequence number: the new checkpoint,
   * or undefined when it does not move.
   */
  advance(): string | undefined {
    let n = 0;
    while (n < this.delivered.length && this.acked.has(this.delivered[n])) n++;
    if (n === 0) return undefined;
    const last = this.delivered[n - 1];
    for (const sequence of this.delivered.slice(0, n)) {
      this.acked.delete(sequence);
      this.pending.delete(sequence);
    }
    this.delivered = this.delivered.slice(n);
    return last;
  }

  /** Every delivered record is acknowledged (and passed by the checkpoint). */
  get settled(): boolean {
    return this.delivered.length === 0;
  }
}
