import { setTimeout as sleep } from "node:timers/promises";
import {
  errorCode,
  isConnectionFailure,
  isRolledBackTransaction,
} from "../../config/transient-failures.js";
import type { Logger } from "../../log/logger.js";

/**
 * Which PostgreSQL failures are worth another attempt, and the backoff between attempts. What
 * may be attempted again (a read; a transaction known to have rolled back as a whole) is the
 * caller's to decide: see PostgresDatabase.
 */

export interface RetryPolicy {
  /** How long transient failures are retried, from the first attempt. 0 = never. */
  retryForMs: number;
  /** Wait before the second attempt; doubled for each later one, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retryForMs: 10_000,
  firstDelayMs: 100,
  maxDelayMs: 2_000,
};

/** A failure after which the same work may simply be attempted again (if it is idempotent). */
export function isTransient(error: unknown): boolean {
  return isConnectionFailure(error) || isRolledBackTransaction(error);
}

/**
 * Runs `attempt` until it succeeds, fails with an error `retryable` refuses, or the policy's
 * time is up (then the last error is thrown). Each retry is logged at warn.
 */
export async function withRetries<T>(
  what: string,
  policy: RetryPolicy,
  logger: Logger,
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean = isTransient,
): Promise<T> {
  const deadline = Date.now() + policy.retryForMs;
  let delay = policy.firstDelayMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error) || Date.now() + delay > deadline) throw error;
      logger.warn(
        { attempt: n, retryInMs: delay, code: errorCode(error), err: (error as Error).message },
        `registry PostgreSQL ${what} failed; retrying`,
      );
      await sleep(delay);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
