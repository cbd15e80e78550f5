import { setTimeout as sleep } from "node:timers/promises";
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

// SQLSTATEs of a lost or refused connection: class 08 (connection exception), the server
// shutting down or crashed (57P01 terminated by an administrator, 57P02, 57P03 starting up),
// too many connections (53300); and of transactions the server rolled back as a whole
// (40001 serialization failure, 40P01 deadlock).
const CONNECTION_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const ROLLED_BACK_STATES = new Set(["40001", "40P01"]);
const SOCKET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTCONN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
// pg's own errors for a connection that ended, which carry no code.
const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|connection timeout|timeout exceeded when trying to connect/i;

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === "string" ? code : undefined;
}

/** The connection was lost, refused or cut: nothing can be assumed of what it was doing. */
export function isConnectionFailure(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined) {
    return code.startsWith("08") || CONNECTION_STATES.has(code) || SOCKET_CODES.has(code);
  }
  return error instanceof Error && CONNECTION_MESSAGES.test(error.message);
}

/** A failure after which the same work may simply be attempted again (if it is idempotent). */
export function isTransient(error: unknown): boolean {
  return isConnectionFailure(error) || ROLLED_BACK_STATES.has(codeOf(error) ?? "");
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
        { attempt: n, retryInMs: delay, code: codeOf(error), err: (error as Error).message },
        `registry PostgreSQL ${what} failed; retrying`,
      );
      await sleep(delay);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
