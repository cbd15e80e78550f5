import { UnreachableError } from "../../config/errors.js";
import type { OutageLog } from "../outage-log.js";
import type { NatsHandle } from "./connection.js";

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;
/** While disconnected, look at the connection this often. */
const POLL_MS = 50;

/**
 * Runs `attempt` until it succeeds, retrying with capped exponential backoff while it fails
 * with a transient error (`isTransient`), and waiting for the reconnect while the connection
 * is down; gives up after `maxOutageMs` of failures (the last error is thrown) or when
 * `isClosed()`. Used by the sink (PubAcks) and the source (acks): nats.js reconnects by
 * itself but drops whatever was not written when the connection broke, so the operation
 * has to be sent again.
 */
export async function retryAcrossOutage<T>(
  handle: () => NatsHandle | null,
  attempt: (handle: NatsHandle) => Promise<T>,
  options: {
    maxOutageMs: number;
    isTransient: (err: unknown) => boolean;
    what: string;
    /** Told of the first failure of an outage and of the success that ends it. */
    log?: OutageLog;
  },
): Promise<T> {
  let failingSince: number | undefined;
  let delay = FIRST_DELAY_MS;
  let lastError: unknown;
  for (;;) {
    const current = handle();
    if (!current) throw new Error(`${options.what}: closed`, { cause: lastError });
    if (current.isConnected()) {
      try {
        const result = await attempt(current);
        if (failingSince !== undefined) options.log?.recovered();
        return result;
      } catch (err) {
        if (!options.isTransient(err)) throw err;
        lastError = err;
      }
    }
    const now = Date.now();
    if (failingSince === undefined) options.log?.failed(lastError ?? "disconnected");
    failingSince ??= now;
    if (now - failingSince > options.maxOutageMs) {
      // An outage, not a bug: the CLI prints one line, no stack.
      throw new UnreachableError(
        `${options.what}: broker unavailable for over ${options.maxOutageMs} ms (${
          lastError instanceof Error ? lastError.message : "disconnected"
        })`,
        {
          cause: lastError ?? "disconnected",
        },
      );
    }
    const connected = handle()?.isConnected() ?? false;
    await new Promise((resolve) => setTimeout(resolve, connected ? delay : POLL_MS));
    if (connected) delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}
