import type { Logger } from "../log/logger.js";

/**
 * What an operator sees of a transport operation that fails and is retried (a broker
 * restarting, a checkpoint store's connection cut): one warning when the failures start and
 * one line when the operation works again, not one line per attempt. Without a logger
 * (library use, tests) it says nothing.
 */
export class OutageLog {
  private since: number | undefined;
  private failures = 0;

  constructor(
    private readonly logger: Logger | undefined,
    /** e.g. "redis://127.0.0.1:6379/rides (group g, consumer c): ack". */
    private readonly what: string,
  ) {}

  /** An attempt failed with an error that is retried. */
  failed(err: unknown): void {
    this.failures++;
    if (this.since !== undefined) return;
    this.since = Date.now();
    const reason = err instanceof Error ? err.message : String(err);
    this.logger?.warn(
      { operation: this.what, reason },
      `${this.what} failed (${reason}); retrying with backoff`,
    );
  }

  /** An attempt succeeded: ends the outage, if there was one. */
  recovered(): void {
    if (this.since === undefined) return;
    const ms = Date.now() - this.since;
    this.logger?.warn(
      { operation: this.what, outageMs: ms, failures: this.failures },
      `${this.what} works again after ${ms} ms (${this.failures} failed attempts)`,
    );
    this.since = undefined;
    this.failures = 0;
  }
}
