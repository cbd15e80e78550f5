import { UserError } from "../config/errors.js";

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
 * SQLSTATEs that say nothing about the statement: the server went away or restarts
 * (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), a transaction lost
 * a race (40001 serialization_failure, 40P01 deadlock_detected), or the server is full
 * (53300 too_many_connections). Class 08 (connection exceptions) is matched by its prefix.
 */
const TRANSIENT_SQLSTATES = new Set(["57P01", "57P02", "57P03", "40001", "40P01", "53300"]);

/** Node socket errors of a server restarting or a network blip; SQLite's lock timeout. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "SQLITE_BUSY",
]);

/** pg's own errors for a connection that ended under it carry no code, only these messages. */
const TRANSIENT_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

export function isTransient(error: unknown, depth = 0): boolean {
  // A mistake in the job's settings or data does not go away by waiting.
  if (error instanceof UserError || depth > 5) return false;
  if (typeof error !== "object" || error === null) return false;
  const { code, message, cause, errors } = error as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === "string") {
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof message === "string" && TRANSIENT_MESSAGES.test(message)) return true;
  // Connecting to `localhost` tries each address: Node reports an AggregateError of them all.
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
