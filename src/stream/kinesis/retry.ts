import { awsErrorName } from "./client.js";
import type { OutageLog } from "../outage-log.js";
import type { Sleeper } from "../sleeper.js";

/**
 * Retrying Kinesis calls through throttling and outages. The SDK already retries each call a
 * few times (3 attempts); this loop keeps going with backoff until the call succeeds, the
 * source/sink is closed, or `retryForMs` has passed since the first failure, so a brief
 * outage or a throttled shard does not end a consumer, and a dead endpoint does not hang it.
 */

export interface RetryOptions {
  retryForMs: number;
  sleeper: Sleeper;
  isClosed: () => boolean;
  /** Which errors are worth retrying; default isTransient (AWS calls). */
  transient?: (err: unknown) => boolean;
  /** Told of the first failure of an outage and of the success that ends it. */
  log?: OutageLog;
}

export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 2_000;

/** Errors that say nothing about the request itself: the same call can succeed later. */
const TRANSIENT = new Set([
  "ProvisionedThroughputExceededException",
  "LimitExceededException",
  "KMSThrottlingException",
  "InternalFailure",
  "InternalFailureException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "ThrottlingException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);

export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (TRANSIENT.has(awsErrorName(err))) return true;
  // Network errors (ECONNREFUSED, ECONNRESET, socket hang up) carry a Node error code and no
  // HTTP status; 5xx answers are the service's trouble, not the request's.
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  return typeof (err as { code?: unknown }).code === "string" || /socket|ECONN/i.test(err.message);
}

export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  let failingSince: number | undefined;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      const result = await operation();
      if (failingSince !== undefined) options.log?.recovered();
      return result;
    } catch (err) {
      if (options.isClosed() || !(options.transient ?? isTransient)(err)) throw err;
      const now = Date.now();
      failingSince ??= now;
      if (now - failingSince >= options.retryForMs) throw err;
      options.log?.failed(err);
      await options.sleeper.sleep(delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
