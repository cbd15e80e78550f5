import { errorMessage } from "./connection.js";
import { UnreachableError } from "../../config/errors.js";
import type { OutageLog } from "../outage-log.js";
import type { Sleeper } from "../sleeper.js";

/**
 * Retrying Redis commands across a restart. ioredis reconnects on its own; this loop keeps
 * re-issuing the operation with backoff until it succeeds, the source/sink is closed, or
 * `retryForMs` has passed since the first failure (then the last error is thrown, so a
 * consumer does not hang forever on a Redis that never comes back).
 */

export interface RetryOptions {
  retryForMs: number;
  sleeper: Sleeper;
  isClosed: () => boolean;
  /**
   * Called on a NOGROUP error (Redis restarted without persistence: the stream and its
   * consumer group are gone) to re-create them; the operation is then retried at once.
   */
  onNoGroup?: () => Promise<void>;
  /** Told of the first failure of an outage and of the success that ends it. */
  log?: OutageLog;
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2_000;

export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  let failingSince: number | undefined;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      const result = await operation();
      if (failingSince !== undefined) options.log?.recovered();
      return result;
    } catch (err) {
      if (options.isClosed()) throw err;
      const now = Date.now();
      failingSince ??= now;
      if (now - failingSince >= options.retryForMs) {
        // An outage, not a bug: the CLI prints one line, no stack.
        throw new UnreachableError(
          `Redis still failing after ${options.retryForMs} ms: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
      if (isNoGroup(err) && options.onNoGroup) {
        // Re-creating the group is itself a command that can fail during the restart.
        try {
          await options.onNoGroup();
          continue;
        } catch {
          // fall through to the backoff
        }
      } else if (!isTransient(err)) {
        throw err;
      }
      options.log?.failed(err);
      await options.sleeper.sleep(delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}

/** Server replies that say "try again later"; every other server error is a bug or misuse. */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|READONLY)\b/;

function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // ioredis raises server errors as ReplyError; anything else (connection refused/closed,
  // MaxRetriesPerRequestError, timeouts) is the connection, which ioredis is repairing.
  if (err.name !== "ReplyError") return true;
  return TRANSIENT_REPLIES.test(err.message);
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.name === "ReplyError" && err.message.startsWith("NOGROUP");
}
