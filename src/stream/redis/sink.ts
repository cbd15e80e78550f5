import type { Redis } from "ioredis";
import type { StreamSink } from "../types.js";
import { closeConnection, connect, createConnection } from "./connection.js";
import { KEY_FIELD, PAYLOAD_FIELD } from "./entries.js";
import { withRetry, type RetryOptions } from "./retry.js";
import type { RedisStreamTarget } from "./url.js";
import { Sleeper } from "../sleeper.js";
import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";

export interface RedisSinkOptions {
  /**
   * Cap the stream near this many entries (XADD MAXLEN ~ N): bounds memory when nobody trims
   * the stream, at the price of dropping the oldest entries, read or not. Default: no cap.
   */
  maxLen?: number;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const RETRY_FOR_MS = 60_000;
const CLOSE_GRACE_MS = 2_000;

/**
 * Publishes with XADD <key> [MAXLEN ~ N] * data <payload> [key <key>], a whole batch in one
 * MULTI/EXEC: one round trip, and all-or-nothing, so a retry after a failed EXEC does not
 * duplicate half a batch (a lost EXEC reply can still duplicate the whole batch: at-least-once).
 * publish() resolves once every XADD has been answered, i.e. the entries are in Redis memory;
 * how durable that is depends on the server's persistence (AOF/RDB), which we cannot see.
 * Redis streams have no partitions: the message key is stored in the `key` field, for readers.
 */
export class RedisSink implements StreamSink {
  readonly description: string;
  private readonly client: Redis;
  private readonly sleeper = new Sleeper();
  private readonly retry: RetryOptions;
  private closed = false;

  constructor(
    private readonly target: RedisStreamTarget,
    private readonly options: RedisSinkOptions = {},
  ) {
    const { maxLen } = options;
    if (maxLen !== undefined && !(Number.isInteger(maxLen) && maxLen > 0)) {
      throw new Error(`Redis sink: maxLen must be a positive integer, got ${maxLen}`);
    }
    this.description = target.description;
    this.client = createConnection(target, `mldeploy:sink`);
    this.retry = {
      retryForMs: RETRY_FOR_MS,
      sleeper: this.sleeper,
      isClosed: () => this.closed,
      log: new OutageLog(options.logger, `${this.description}: publish`),
    };
  }

  async open(): Promise<void> {
    await connect(this.client, this.target.description);
  }

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    if (messages.length === 0) return;
    if (this.closed) throw new Error(`Redis sink ${this.description} is closed`);
    const trim =
      this.options.maxLen === undefined ? [] : ["MAXLEN", "~", String(this.options.maxLen)];
    await withRetry(async () => {
      const transaction = this.client.multi();
      for (const message of messages) {
        const fields: Array<string | Buffer> = [PAYLOAD_FIELD, toBuffer(message.data)];
        if (message.key !== undefined) fields.push(KEY_FIELD, message.key);
        transaction.call("XADD", this.target.stream, ...trim, "*", ...fields);
      }
      const results = await transaction.exec();
      if (results === null) throw new Error("Redis transaction aborted");
      const failed = results.find(([err]) => err !== null);
      if (failed?.[0]) throw failed[0];
    }, this.retry);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wakeAll();
    await closeConnection(this.client, CLOSE_GRACE_MS);
  }
}

/** A Buffer view of the bytes (no copy): ioredis writes Buffers verbatim, Uint8Arrays not. */
function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
