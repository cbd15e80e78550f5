import { UnreachableError } from "../../config/errors.js";
import { Redis } from "ioredis";
import type { RedisStreamTarget } from "./url.js";

/**
 * One ioredis connection with the settings the stream transport relies on:
 * - it reconnects by itself, forever, with capped exponential backoff (retryStrategy), so a
 *   restarted Redis is picked up again without our code re-creating clients;
 * - a command issued while disconnected waits in the offline queue for a few reconnect
 *   attempts only (maxRetriesPerRequest), then fails, so our own retry loop (retry.ts) decides
 *   how long to keep trying and a closing consumer is not stuck behind a dead server;
 * - blocking reads get a client-side deadline (BLOCK time + grace): a half-open TCP connection
 *   would otherwise leave XREADGROUP waiting forever. ioredis applies `blockingTimeout` itself
 *   to an XREADGROUP without BLOCK (it flags the command as blocking whatever its arguments),
 *   so that must be a generous deadline, not a token value: at 1 ms such reads resolved as
 *   "nothing" while Redis delivered their entries to this consumer's pending list.
 */
/** Client-side deadline of a read without BLOCK (and of BLOCK 0, which we never send). */
const NON_BLOCKING_READ_DEADLINE_MS = 10_000;
/** Added to a read's BLOCK time for its client-side deadline. */
export const BLOCK_GRACE_MS = 2_000;

export function createConnection(
  target: RedisStreamTarget,
  name: string,
  options: { resendUnfulfilled?: boolean } = {},
): Redis {
  const client = new Redis({
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    db: target.db,
    tls: target.tls ? {} : undefined,
    connectionName: name,
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times - 1, 5), 2_000),
    blockingTimeout: NON_BLOCKING_READ_DEADLINE_MS,
    blockingTimeoutGrace: BLOCK_GRACE_MS,
    autoResendUnfulfilledCommands: options.resendUnfulfilled ?? true,
  });
  // Without a listener ioredis prints every connection error of its reconnect loop to stderr;
  // failures reach us through the rejected commands instead.
  client.on("error", () => {});
  return client;
}

/** Connects, failing fast (and stopping the reconnect loop) when Redis cannot be reached. */
export async function connect(client: Redis, description: string): Promise<void> {
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new UnreachableError(`cannot connect to ${description}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** QUIT lets queued commands (acks, a running BLOCK) finish; a dead server gets a hard close. */
export async function closeConnection(client: Redis, graceMs: number): Promise<void> {
  if (client.status === "end" || client.status === "wait") {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  try {
    await Promise.race([client.quit().then(() => undefined), timeout]);
  } catch {
    // Already closed or the connection broke: disconnect below is all that is left to do.
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
