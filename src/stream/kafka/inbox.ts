/** One message kafkajs fetched, not yet handed out by read(). */
export interface Fetched {
  partition: number;
  offset: bigint;
  data: Uint8Array;
}

/**
 * The bridge from kafkajs' push (eachBatch) to the contract's pull (read()): eachBatch puts
 * fetched messages here, read() takes them out, waiting for more until its deadline. The
 * source bounds how much goes in (see KafkaSource.onBatch), so this stays a plain FIFO.
 */
export class Inbox {
  private items: Fetched[] = [];
  private readonly waiters = new Set<() => void>();

  get size(): number {
    return this.items.length;
  }

  push(items: Fetched[]): void {
    if (items.length === 0) return;
    this.items.push(...items);
    this.wakeAll();
  }

  take(max: number): Fetched[] {
    return this.items.splice(0, max);
  }

  /** Drops everything not handed out yet: after a rebalance it is fetched again by its owner. */
  clear(): void {
    this.items = [];
    this.wakeAll();
  }

  /** Resolves at the next push/clear/wakeAll, or after `ms`. */
  waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
    });
  }

  wakeAll(): void {
    for (const done of [...this.waiters]) done();
  }
}
