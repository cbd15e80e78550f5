import { UserError } from "../config/errors.js";
import {
  errorCode,
  isConnectionFailure,
  isRolledBackTransaction,
} from "../config/transient-failures.js";

/**
 * Which failures of a batch run are worth retrying from the last committed checkpoint, and
 * how long to wait. A retry is safe whatever failed: a chunk is committed with its checkpoint
 * in one transaction, so a pass that starts again from the checkpoint redoes at most the
 * chunk in flight, and its upserts make that redo harmless.
 */

export interface RetryPolicy {
  /** Retries in a row without a chunk committed in between; 0 = fail at the first error. */
  attempts: number;
  /** Wait before the first retry; each next one waits twice as long (at most MAX_RETRY_DELAY_MS). */
  delayMs: number;
}

export const DEFAULT_RETRY_ATTEMPTS = 5;
/** As the --retry-delay setting writes it; DEFAULT_RETRY.delayMs in milliseconds. */
export const DEFAULT_RETRY_DELAY = "1s";
export const DEFAULT_RETRY: RetryPolicy = { attempts: DEFAULT_RETRY_ATTEMPTS, delayMs: 1000 };
export const MAX_RETRY_DELAY_MS = 60_000;

/** The wait before retry number `retry` (1-based). */
export function retryDelayMs(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.delayMs * 2 ** (retry - 1), MAX_RETRY_DELAY_MS);
}

/**
 * A connection lost, reset or refused, a server restarting, a transaction rolled back after a
 * race (see config/transient-failures.ts), or SQLite's lock timeout; looked for in `cause` and
 * in an AggregateError too (connecting to `localhost` tries each address, and Node reports
 * them all).
 */
export function isTransient(error: unknown, depth = 0): boolean {
  // A mistake in the job's settings or data does not go away by waiting.
  if (error instanceof UserError || depth > 5) return false;
  if (typeof error !== "object" || error === null) return false;
  if (isConnectionFailure(error) || isRolledBackTransaction(error)) return true;
  if (errorCode(error) === "SQLITE_BUSY") return true;
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  const inner = [cause, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  return inner.some((e) => e !== undefined && isTransient(e, depth + 1));
}

/** Waits `ms`, or less if `stopping` settles first; true when it did (stop requested). */
export async function sleepUnlessStopped(
  ms: number,
  stopping?: Promise<unknown>,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([slept, ...(stopping ? [stopping.then(() => true as const)] : [])]);
  } finally {
    clearTimeout(timer);
  }
}
