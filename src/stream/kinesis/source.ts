import { UnreachableError, UserError } from "../../config/errors.js";
import type {
  ReadBatchOptions,
  SourceSettings,
  StreamLag,
  StreamMessage,
  StreamSource,
} from "../types.js";
import { planLeases } from "./balance.js";
import type { LeaseDatabase } from "./checkpoints/database.js";
import { LeaseStore } from "./checkpoints/lease-store.js";
import { openLeaseDatabase } from "./checkpoints/open.js";
import { connectKinesis, explain, type KinesisConnection } from "./client.js";
import { withRetry, type RetryOptions } from "./retry.js";
import { ShardReader } from "./shard-reader.js";
import { ensureStream, listShards } from "./stream-admin.js";
import type { KinesisTarget } from "./url.js";
import { Sleeper } from "../sleeper.js";
import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";

export interface KinesisSourceOptions extends Omit<SourceSettings, "stream"> {
  /** Lease duration (overrides the URL's lease_ms). Default 10 000. */
  leaseMs?: number;
  /** Least time between GetRecords on one shard (overrides poll_ms). Default 250. */
  pollMs?: number;
  /** Where AWS_* and MLDEPLOY_DATA_DIR are read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The data dir of the default checkpoint file (`--data-dir`); default MLDEPLOY_DATA_DIR. */
  dataDir?: string;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_POLL_MS = 250;
/** How often the shard list is re-read (new shards after a split or merge). */
const SHARD_SYNC_MS = 10_000;
/** How long reads and checkpoint writes keep retrying through an outage before failing. */
const RETRY_FOR_MS = 60_000;
const MIN_PAGE = 100;
const MAX_PAGE = 10_000;

/**
 * A member of a consumer group on a Kinesis stream, sharing its shards with the other members
 * through leases in the checkpoint store (see checkpoints/lease-store.ts and balance.ts).
 *
 * - open(): checks (or creates) the stream, opens the checkpoint store, takes its first leases.
 * - read(): hands out what the leased shards' readers fetched, round robin over shards, up to
 *   maxMessages within maxWaitMs; position = sequence number, partition = shard id.
 * - ack(): moves each shard's checkpoint to the end of its acknowledged prefix (never past an
 *   unacknowledged record) and writes it durably before resolving.
 * - In the background, every leaseMs/3: renew our leases (dropping shards taken by others),
 *   take free, expired or rebalanced ones, and every 10 s re-list the shards.
 * - close(): stops the readers and releases the leases, so others take over at once.
 *
 * A new group starts each shard at TRIM_HORIZON (the oldest record kept); a known one
 * AFTER_SEQUENCE_NUMBER its checkpoint. Resharding: a closed shard is read to its end and
 * marked finished once fully acknowledged; its children are leased only after that, so
 * per-key order survives a split or merge.
 */
export class KinesisSource implements StreamSource {
  readonly description: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly sleeper = new Sleeper();
  private readonly storeRetry: RetryOptions;
  private connection: KinesisConnection | undefined;
  private database: LeaseDatabase | undefined;
  private store: LeaseStore | undefined;
  private readonly readers = new Map<string, ShardReader>();
  /** Which reader handed out a message: an ack for a reader since replaced is ignored. */
  private readonly origin = new WeakMap<StreamMessage, ShardReader>();
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> | undefined;
  private lastShardSync = 0;
  private cycleFailingSince: number | undefined;
  private cycleError: unknown;
  private readonly leaseOutage: OutageLog;
  private pageSize = 500;
  private turn = 0;
  private closed = false;

  constructor(
    private readonly target: KinesisTarget,
    private readonly options: KinesisSourceOptions,
  ) {
    const { group, consumer } = options;
    if (group === "" || consumer === "") {
      throw new UserError("Kinesis source: group and consumer must be non-empty");
    }
    this.leaseMs = options.leaseMs ?? target.leaseMs ?? DEFAULT_LEASE_MS;
    this.pollMs = options.pollMs ?? target.pollMs ?? DEFAULT_POLL_MS;
    this.description = `${target.description} (group ${group}, consumer ${consumer})`;
    this.storeRetry = {
      retryForMs: RETRY_FOR_MS,
      sleeper: this.sleeper,
      isClosed: () => this.closed,
      transient: (err) => !(err instanceof UserError),
      log: new OutageLog(options.logger, `${this.description}: checkpoint write`),
    };
    this.leaseOutage = new OutageLog(options.logger, `${this.description}: lease renewal`);
  }

  async open(): Promise<void> {
    if (this.connection) return;
    const connection = connectKinesis(this.target, this.options.env);
    this.connection = connection;
    try {
      let arn: string;
      try {
        arn = await ensureStream(connection.client, this.target);
      } catch (err) {
        throw explain(err, `cannot open ${this.target.description}`, connection.where);
      }
      this.database = await openLeaseDatabase(
        this.target.checkpoints,
        this.options.env,
        this.options.dataDir,
      );
      // The ARN names region and account; local servers all answer with the same fake
      // account, so their endpoint is part of the key too.
      const key = connection.endpoint === undefined ? arn : `${arn}@${connection.endpoint}`;
      this.store = new LeaseStore(this.database, key, this.options.group);
      await this.leaseCycle();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.schedule();
  }

  /** The shards this consumer holds leases on now (for logs and tests). */
  ownedShards(): string[] {
    return [...this.readers.keys()].sort();
  }

  async read(options: ReadBatchOptions): Promise<StreamMessage[]> {
    if (this.closed) return [];
    const max = Math.max(1, Math.floor(options.maxMessages));
    this.pageSize = Math.min(MAX_PAGE, Math.max(MIN_PAGE, max));
    const deadline = Date.now() + options.maxWaitMs;
    const out: StreamMessage[] = [];
    for (;;) {
      this.throwIfBroken();
      const now = Date.now();
      for (const reader of this.readers.values()) reader.poll(now, this.pageSize);
      this.collect(out, max);
      await this.finishEndedShards();
      if (out.length >= max || this.closed || now >= deadline) break;
      // Something to hand out and nothing more coming right away: do not sit on it.
      if (out.length > 0 && !this.moreComing()) break;
      await this.waitUntil(Math.min(deadline, this.nextDue() ?? deadline));
    }
    return out;
  }

  async ack(messages: StreamMessage[]): Promise<void> {
    const touched = new Set<ShardReader>();
    for (const message of messages) {
      const reader = this.origin.get(message);
      // A shard whose lease was lost (or retaken since): its new reader starts from the
      // stored checkpoint and delivers those records again; nothing to record here.
      if (reader === undefined || this.readers.get(reader.shardId) !== reader) continue;
      if (reader.tracker.ack(message.position)) touched.add(reader);
    }
    for (const reader of touched) {
      const sequence = reader.tracker.advance();
      if (sequence === undefined) continue;
      const store = this.store!;
      const kept = await withRetry(
        () => store.checkpoint(this.options.consumer, reader.shardId, sequence, false),
        this.storeRetry,
      );
      if (!kept) await this.dropReader(reader);
    }
    await this.finishEndedShards();
  }

  async lag(): Promise<StreamLag | undefined> {
    let behindMs: number | undefined;
    for (const reader of this.readers.values()) {
      if (reader.behindMs !== undefined) behindMs = Math.max(behindMs ?? 0, reader.behindMs);
    }
    return behindMs === undefined ? undefined : { behindMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.sleeper.wakeAll();
    this.notify();
    await this.cycle?.catch(() => undefined);
    const readers = [...this.readers.values()];
    await Promise.all(readers.map((reader) => reader.stop()));
    // Checkpoints were written at each ack; what was read and not acknowledged is read
    // again by the next owner. Releasing lets it start now rather than after lease_ms.
    if (this.store) {
      await this.store
        .release(
          this.options.consumer,
          readers.map((r) => r.shardId),
        )
        .catch(() => undefined);
    }
    this.readers.clear();
    await this.database?.close().catch(() => undefined);
    this.connection?.client.destroy();
  }

  /** Round robin over the shards, so a busy shard does not starve the others. */
  private collect(out: StreamMessage[], max: number): void {
    const readers = [...this.readers.values()];
    for (let i = 0; i < readers.length && out.length < max; i++) {
      const reader = readers[(this.turn + i) % readers.length];
      for (const message of reader.take(max - out.length)) {
        this.origin.set(message, reader);
        out.push(message);
      }
    }
    this.turn++;
  }

  private moreComing(): boolean {
    for (const reader of this.readers.values()) {
      if (reader.buffered > 0 || (reader.inFlight && reader.moreWaiting)) return true;
    }
    return false;
  }

  private nextDue(): number | undefined {
    let next: number | undefined;
    for (const reader of this.readers.values()) {
      const due = reader.dueAt;
      if (due !== undefined) next = Math.min(next ?? due, due);
    }
    return next;
  }

  /** Sleeps until `until`, a fetch finishing, a lease change, or close(). */
  private waitUntil(until: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, until - Date.now()));
      this.waiters.add(done);
    });
  }

  private notify(): void {
    for (const done of [...this.waiters]) done();
  }

  private throwIfBroken(): void {
    const where = this.connection?.where ?? "?";
    for (const reader of this.readers.values()) {
      if (reader.error !== undefined) {
        throw explain(
          reader.error,
          `reading shard ${reader.shardId} of ${this.description}`,
          where,
        );
      }
    }
    if (this.cycleError !== undefined) {
      // An outage of the checkpoint store, not a bug: the CLI prints one line, no stack.
      throw new UnreachableError(
        `${this.description}: leases could not be renewed for ${RETRY_FOR_MS / 1000} s ` +
          `(checkpoint store ${this.store?.description}): ${String(this.cycleError)}`,
        { cause: this.cycleError },
      );
    }
  }

  /** A closed shard read to its end and fully acknowledged: mark it finished, free its children. */
  private async finishEndedShards(): Promise<void> {
    for (const reader of [...this.readers.values()]) {
      if (!reader.ended || !reader.tracker.settled) continue;
      this.readers.delete(reader.shardId);
      const store = this.store!;
      const consumer = this.options.consumer;
      await withRetry(async () => {
        if (await store.checkpoint(consumer, reader.shardId, null, true)) {
          await store.release(consumer, [reader.shardId]);
        }
      }, this.storeRetry);
      this.lastShardSync = 0; // children may be new: list the shards on the next round
      this.kick();
    }
  }

  private async dropReader(reader: ShardReader): Promise<void> {
    if (this.readers.get(reader.shardId) === reader) this.readers.delete(reader.shardId);
    await reader.stop();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.max(100, Math.floor(this.leaseMs / 3)));
  }

  /** Runs a lease round now (unless one is running), then schedules the next. */
  private kick(): void {
    if (this.closed || this.cycle) return;
    clearTimeout(this.timer);
    this.cycle = this.leaseCycle()
      .then(
        () => {
          this.cycleFailingSince = undefined;
          this.leaseOutage.recovered();
        },
        (err: unknown) => {
          if (!this.closed) this.leaseOutage.failed(err);
          const now = Date.now();
          this.cycleFailingSince ??= now;
          if (now - this.cycleFailingSince >= RETRY_FOR_MS) this.cycleError = err;
        },
      )
      .finally(() => {
        this.cycle = undefined;
        this.notify();
        this.schedule();
      });
  }

  /** One round: re-list shards if due, renew ours, take what the balance says. */
  private async leaseCycle(): Promise<void> {
    const store = this.store!;
    const { client } = this.connection!;
    const me = this.options.consumer;
    if (Date.now() - this.lastShardSync >= SHARD_SYNC_MS) {
      await store.addShards(await listShards(client, this.target.stream));
      this.lastShardSync = Date.now();
    }
    const held = await store.renew(me, [...this.readers.keys()], this.leaseMs);
    for (const reader of [...this.readers.values()]) {
      if (!held.has(reader.shardId)) await this.dropReader(reader);
    }
    const { now, leases } = await store.list();
    const plan = planLeases(leases, me, new Set(this.readers.keys()), now);
    for (const lease of plan.steal ? [...plan.take, plan.steal] : plan.take) {
      if (this.closed || this.readers.has(lease.shardId)) continue;
      const taken = await store.take(lease, me, this.leaseMs);
      if (taken === undefined) continue;
      if (this.closed) {
        await store.release(me, [lease.shardId]); // close() ran meanwhile: give it back
        continue;
      }
      this.readers.set(
        lease.shardId,
        new ShardReader({
          client,
          stream: this.target.stream,
          shardId: lease.shardId,
          startAfter: taken.checkpoint,
          pollMs: this.pollMs,
          retryForMs: RETRY_FOR_MS,
          onProgress: () => this.notify(),
        }),
      );
    }
  }
}
