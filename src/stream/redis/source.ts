import type { Redis } from "ioredis";
import type { ReadBatchOptions, SourceSettings, StreamMessage, StreamSource } from "../types.js";
import { closeConnection, connect, createConnection } from "./connection.js";
import {
  parseAutoClaimReply,
  parsePendingDeliveries,
  parseReadGroupReply,
  toMessage,
  type RawEntry,
} from "./entries.js";
import { Sleeper, withRetry, type RetryOptions } from "./retry.js";
import type { RedisStreamTarget } from "./url.js";

export interface RedisSourceOptions extends Omit<SourceSettings, "stream"> {
  /**
   * Pending entries (read by some consumer of the group, not acked) idle longer than this are
   * taken over by the next read() of any consumer: that is how the events of a consumer that
   * died get processed. Must exceed the longest time a batch takes from read to ack, or live
   * consumers' batches are taken over too (duplicates, still at-least-once). Default 30 s.
   */
  claimIdleMs?: number;
}

const DEFAULT_CLAIM_IDLE_MS = 30_000;
/** How long read()/ack() keep retrying while Redis is unreachable before giving up. */
const RETRY_FOR_MS = 60_000;
const CLOSE_GRACE_MS = 2_000;

/**
 * A Redis Streams consumer group member.
 *
 * - open() creates the group with XGROUP CREATE … 0 MKSTREAM: a new group starts at the
 *   beginning of the stream, so events published before the first consumer started are
 *   scored; an existing group (BUSYGROUP) keeps its position.
 * - read() first takes over idle pending entries with XAUTOCLAIM (deliveries from XPENDING),
 *   then reads new entries with XREADGROUP … BLOCK. position = entry id; no partition.
 * - ack() is one XACK for the batch.
 *
 * Two connections: a BLOCKed XREADGROUP occupies its connection until it returns, so acks
 * and claims issued meanwhile (the consumer loop acks one batch while reading the next) go
 * over the second one instead of queueing behind the block.
 */
export class RedisSource implements StreamSource {
  readonly description: string;
  private readonly reader: Redis;
  private readonly commands: Redis;
  private readonly claimIdleMs: number;
  private readonly sleeper = new Sleeper();
  private readonly retry: RetryOptions;
  /** XAUTOCLAIM scans the pending list in steps; "0-0" = start over from the beginning. */
  private claimCursor = "0-0";
  private closed = false;

  constructor(
    private readonly target: RedisStreamTarget,
    private readonly options: RedisSourceOptions,
  ) {
    const { group, consumer } = options;
    if (group === "" || consumer === "")
      throw new Error("Redis source: group and consumer must be non-empty");
    this.claimIdleMs = options.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
    if (!(this.claimIdleMs > 0))
      throw new Error(`Redis source: claimIdleMs must be > 0, got ${this.claimIdleMs}`);
    this.description = `${target.description} (group ${group}, consumer ${consumer})`;
    const name = `mldeploy:${group}:${consumer}`.replace(/\s/g, "_");
    this.reader = createConnection(target, `${name}:read`);
    this.commands = createConnection(target, `${name}:cmd`);
    this.retry = {
      retryForMs: RETRY_FOR_MS,
      sleeper: this.sleeper,
      isClosed: () => this.closed,
      onNoGroup: () => this.createGroup(),
    };
  }

  async open(): Promise<void> {
    await connect(this.commands, this.target.description);
    try {
      await connect(this.reader, this.target.description);
      await this.createGroup();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async createGroup(): Promise<void> {
    try {
      await this.commands.xgroup("CREATE", this.target.stream, this.options.group, "0", "MKSTREAM");
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("BUSYGROUP")) return;
      throw err;
    }
  }

  async read(options: ReadBatchOptions): Promise<StreamMessage[]> {
    if (this.closed) return [];
    const count = Math.max(1, Math.floor(options.maxMessages));
    try {
      const claimed = await withRetry(() => this.reclaim(count), this.retry);
      if (claimed.length >= count || this.closed) return claimed;
      // With taken-over work in hand, only top up with what is already there: no waiting.
      const blockMs = claimed.length > 0 ? undefined : options.maxWaitMs;
      const fresh = await withRetry(
        () => this.readNew(count - claimed.length, blockMs),
        this.retry,
      );
      return [...claimed, ...fresh];
    } catch (err) {
      // close() during a read (or its retries) ends the read, not the process.
      if (this.closed) return [];
      throw err;
    }
  }

  /** XAUTOCLAIM idle entries of any consumer of the group (one scan step per read). */
  private async reclaim(count: number): Promise<StreamMessage[]> {
    const { stream } = this.target;
    const { group, consumer } = this.options;
    const reply = await this.commands.callBuffer(
      "XAUTOCLAIM",
      stream,
      group,
      consumer,
      String(this.claimIdleMs),
      this.claimCursor,
      "COUNT",
      String(count),
    );
    const { cursor, entries } = parseAutoClaimReply(reply);
    this.claimCursor = cursor;
    const live = await this.dropDeleted(entries);
    if (live.length === 0) return [];
    // XAUTOCLAIM does not report delivery counts; XPENDING per id, all in one round trip.
    const pipeline = this.commands.pipeline();
    for (const entry of live) pipeline.call("XPENDING", stream, group, entry.id, entry.id, "1");
    const results = (await pipeline.exec()) ?? [];
    return live.map((entry, i) => {
      const [err, reply] = results[i] ?? [null, []];
      // Unknown count (should not happen): at least 2, since it was delivered before.
      const deliveries = err ? undefined : parsePendingDeliveries(reply);
      return toMessage(entry, deliveries ?? 2);
    });
  }

  /**
   * Redis 7 drops deleted entries from the pending list during XAUTOCLAIM itself; Redis 6.2
   * returns them with nil fields and keeps them pending, so ack those or they come back forever.
   */
  private async dropDeleted(entries: RawEntry[]): Promise<Array<RawEntry & { fields: Buffer[] }>> {
    const live = entries.filter((e): e is RawEntry & { fields: Buffer[] } => e.fields !== null);
    const gone = entries.filter((e) => e.fields === null).map((e) => e.id);
    if (gone.length > 0) await this.commands.xack(this.target.stream, this.options.group, ...gone);
    return live;
  }

  /** XREADGROUP … > : entries never delivered to any consumer of the group. */
  private async readNew(count: number, blockMs: number | undefined): Promise<StreamMessage[]> {
    const args = ["GROUP", this.options.group, this.options.consumer, "COUNT", String(count)];
    // BLOCK 0 would wait forever: clamp to at least 1 ms.
    if (blockMs !== undefined) args.push("BLOCK", String(Math.max(1, Math.ceil(blockMs))));
    args.push("STREAMS", this.target.stream, ">");
    const reply = await this.reader.callBuffer("XREADGROUP", ...args);
    return parseReadGroupReply(reply)
      .filter((e): e is RawEntry & { fields: Buffer[] } => e.fields !== null)
      .map((entry) => toMessage(entry, 1));
  }

  async ack(messages: StreamMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const ids = messages.map((m) => m.position);
    // XACK is idempotent, so retrying after a lost reply is harmless. After a restart without
    // persistence the group is gone and XACK acks nothing, which is also what we want.
    await withRetry(() => this.commands.xack(this.target.stream, this.options.group, ...ids), {
      ...this.retry,
      onNoGroup: undefined,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wakeAll();
    // QUIT waits for a running BLOCK to return, so entries it delivers still reach read().
    await Promise.all([
      closeConnection(this.reader, CLOSE_GRACE_MS),
      closeConnection(this.commands, CLOSE_GRACE_MS),
    ]);
  }
}
