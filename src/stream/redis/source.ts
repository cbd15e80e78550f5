import type { Redis } from "ioredis";
import type {
  ReadBatchOptions,
  SourceSettings,
  StreamLag,
  StreamMessage,
  StreamSource,
} from "../types.js";
import { BLOCK_GRACE_MS, closeConnection, connect, createConnection } from "./connection.js";
import {
  parseAutoClaimReply,
  parsePendingDeliveries,
  parseReadGroupReply,
  toMessage,
  type RawEntry,
} from "./entries.js";
import { groupLag } from "./lag.js";
import { withRetry, type RetryOptions } from "./retry.js";
import type { RedisStreamTarget } from "./url.js";
import { Sleeper } from "../sleeper.js";
import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";

export interface RedisSourceOptions extends Omit<SourceSettings, "stream"> {
  /**
   * Pending entries (read by some consumer of the group, not acked) idle longer than this are
   * taken over by the next read() of any consumer: that is how the events of a consumer that
   * died get processed. Must exceed the longest time a batch takes from read to ack, or live
   * consumers' batches are taken over too (duplicates, still at-least-once). Default 30 s.
   */
  claimIdleMs?: number;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const DEFAULT_CLAIM_IDLE_MS = 30_000;
/**
 * XAUTOCLAIM scans at most this often (or every claimIdleMs / 2, if shorter) once a scan found
 * nothing more to take: one extra round trip per read was a visible cost at high rates, and an
 * entry waits claimIdleMs before it may be taken over anyway.
 */
const MAX_CLAIM_INTERVAL_MS = 1000;
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
  private readonly ackOutage: OutageLog;
  /** XAUTOCLAIM scans the pending list in steps; "0-0" = start over from the beginning. */
  private claimCursor = "0-0";
  /** When the next XAUTOCLAIM scan is due (0 = now: a scan is under way or just found work). */
  private nextClaimAt = 0;
  private closed = false;
  private opened = false;
  /** Entries read() handed out and ack() has not acknowledged yet. */
  private readonly outstanding = new Set<string>();
  /**
   * Set when a read on the reader connection failed or the connection came back: Redis may
   * have delivered entries whose reply never arrived. They sit in this consumer's own pending
   * list, where no XREADGROUP > returns them again, and would wait claimIdleMs for XAUTOCLAIM.
   */
  private recoverOwn = false;

  constructor(
    private readonly target: RedisStreamTarget,
    private readonly options: RedisSourceOptions,
  ) {
    const { group, consumer } = options;
    if (group === "" || consumer === "")
      throw new Error("Redis source: group and consumer must be non-empty");
    this.claimIdleMs = options.claimIdleMs ?? target.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
    if (!(this.claimIdleMs > 0))
      throw new Error(`Redis source: claimIdleMs must be > 0, got ${this.claimIdleMs}`);
    this.description = `${target.description} (group ${group}, consumer ${consumer})`;
    const name = `mldeploy:${group}:${consumer}`.replace(/\s/g, "_");
    // No automatic resend of an XREADGROUP whose reply was lost: it would read further
    // entries and leave the lost ones pending; recoverOwnPending() finds those instead.
    this.reader = createConnection(target, `${name}:read`, { resendUnfulfilled: false });
    this.reader.on("ready", () => {
      if (this.opened) this.recoverOwn = true;
    });
    this.commands = createConnection(target, `${name}:cmd`);
    this.retry = {
      retryForMs: RETRY_FOR_MS,
      sleeper: this.sleeper,
      isClosed: () => this.closed,
      onNoGroup: () => this.createGroup(),
      log: new OutageLog(options.logger, `${this.description}: read`),
    };
    this.ackOutage = new OutageLog(options.logger, `${this.description}: ack`);
  }

  async open(): Promise<void> {
    await connect(this.commands, this.target.description);
    try {
      await connect(this.reader, this.target.description);
      await this.createGroup();
      this.opened = true;
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
      const own = this.recoverOwn
        ? await withRetry(() => this.recoverOwnPending(count), this.retry)
        : [];
      const claimed =
        own.length < count && Date.now() >= this.nextClaimAt
          ? await withRetry(() => this.reclaim(count - own.length), this.retry)
          : [];
      const taken = [...own, ...claimed];
      if (taken.length >= count || this.closed) return this.handOut(taken);
      // With taken-over work in hand, only top up with what is already there: no waiting.
      const blockMs = taken.length > 0 ? undefined : options.maxWaitMs;
      const fresh = await withRetry(async () => {
        try {
          return await this.readNew(count - taken.length, blockMs);
        } catch (err) {
          this.recoverOwn = true;
          throw err;
        }
      }, this.retry);
      return this.handOut([...taken, ...fresh]);
    } catch (err) {
      // close() during a read (or its retries) ends the read, not the process.
      if (this.closed) return [];
      throw err;
    }
  }

  private handOut(messages: StreamMessage[]): StreamMessage[] {
    for (const message of messages) this.outstanding.add(message.position);
    return messages;
  }

  /**
   * Entries in this consumer's own pending list that read() never handed out (their reply was
   * lost with the connection): XREADGROUP … 0 pages through the own pending list.
   */
  private async recoverOwnPending(count: number): Promise<StreamMessage[]> {
    const found: StreamMessage[] = [];
    let after = "0";
    for (;;) {
      const reply = await this.reader.callBuffer(
        "XREADGROUP",
        "GROUP",
        this.options.group,
        this.options.consumer,
        "COUNT",
        "1000",
        "STREAMS",
        this.target.stream,
        after,
      );
      // Reading the own pending list never blocks: null is ioredis' deadline, not an answer.
      if (reply === null) throw new Error("no reply to XREADGROUP … 0 (connection lost)");
      const entries = parseReadGroupReply(reply);
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (found.length < count && entry.fields !== null && !this.outstanding.has(entry.id)) {
          found.push(toMessage(entry as RawEntry & { fields: Buffer[] }, 2));
        }
      }
      after = entries[entries.length - 1].id;
      if (found.length >= count) return found;
    }
    // The whole list was seen: nothing more to recover until the next failure or reconnect.
    this.recoverOwn = false;
    return found;
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
    // Scan finished with room to spare: nothing else is idle long enough right now.
    this.nextClaimAt =
      cursor === "0-0" && entries.length < count
        ? Date.now() + Math.min(MAX_CLAIM_INTERVAL_MS, this.claimIdleMs / 2)
        : 0;
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
    const started = Date.now();
    const reply = await this.reader.callBuffer("XREADGROUP", ...args);
    // A null past the client-side deadline is ioredis giving up on the reply (connection lost
    // or stalled), not Redis answering "nothing new": entries may have been delivered anyway.
    if (reply === null && Date.now() - started >= (blockMs ?? 0) + BLOCK_GRACE_MS / 2) {
      this.recoverOwn = true;
    }
    return parseReadGroupReply(reply)
      .filter((e): e is RawEntry & { fields: Buffer[] } => e.fields !== null)
      .map((entry) => toMessage(entry, 1));
  }

  async ack(messages: StreamMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const ids = messages.map((m) => m.position);
    for (const id of ids) this.outstanding.delete(id);
    // XACK is idempotent, so retrying after a lost reply is harmless. After a restart without
    // persistence the group is gone and XACK acks nothing, which is also what we want.
    await withRetry(() => this.commands.xack(this.target.stream, this.options.group, ...ids), {
      ...this.retry,
      onNoGroup: undefined,
      log: this.ackOutage,
    });
  }

  /** See lag.ts. One attempt, no retry: the metrics poller asks again a few seconds later. */
  async lag(): Promise<StreamLag | undefined> {
    if (this.closed) return undefined;
    return groupLag(this.commands, this.target.stream, this.options.group);
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
