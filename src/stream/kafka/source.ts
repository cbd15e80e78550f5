import {
  PartitionAssigners,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
} from "kafkajs";
import { UserError } from "../../config/errors.js";
import type {
  ReadBatchOptions,
  SourceSettings,
  StreamLag,
  StreamMessage,
  StreamSource,
} from "../types.js";
import { connectAdmin, createKafka, ensureTopic, errorMessage } from "./client.js";
import { Inbox, type Fetched } from "./inbox.js";
import { groupLag } from "./lag.js";
import { subscribedRoundRobin } from "./assigner.js";
import { PartitionProgress } from "./progress.js";
import { parseKafkaUrl, type KafkaTarget } from "./url.js";
import { Sleeper } from "../sleeper.js";

/**
 * How long one idle fetch waits at the broker. kafkajs heartbeats between fetches and sleeps
 * this long while every partition is paused, so it also bounds how late a rebalance or a
 * resume is noticed; the broker answers at once when messages arrive, so latency is unaffected.
 */
const FETCH_MAX_WAIT_MS = 500;

/** Commit errors that mean "the group is rebalancing / you are no longer a member". */
const GROUP_CHANGED = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID"]);

/**
 * A member of a Kafka consumer group, behind the pull-style source contract.
 *
 * Reading: kafkajs pushes fetched batches to eachBatch; those go into a FIFO inbox that read()
 * drains. In flight (in the inbox + handed out and not acked) stays at most maxInFlight: a
 * batch that does not fit is taken only in part, kafkajs' fetch position is moved past the
 * part taken only (resolveOffset, which commits nothing), and the topic is paused until acks
 * bring the count down to half; the rest is fetched again after the resume.
 *
 * Acknowledging: autoCommit is off. ack() commits, per partition, the offset after the acked
 * prefix of what was handed out (PartitionProgress), so a commit never passes an unacked
 * message, and resolves once the group coordinator stored it.
 *
 * Rebalances (and consumer restarts after a crash) start a new epoch: the inbox and all
 * progress are dropped, and kafkajs fetches each newly assigned partition again from the
 * group's committed offset. Acks of messages handed out before the rebalance then commit
 * nothing: their partition may belong to another member now, whose commits they must not
 * overwrite. Those messages are delivered again (to the new owner, or to this member if it
 * kept the partition): at-least-once, duplicates possible around a rebalance, never a loss.
 *
 * A new group starts at the beginning of the topic (fromBeginning), so events published before
 * the first consumer was deployed are processed, as with the NATS and Redis transports.
 * `position` is the offset and `partition` the partition number; Kafka does not count
 * deliveries, so `deliveries` is left out.
 */
export class KafkaSource implements StreamSource {
  readonly description: string;
  private readonly kafka: Kafka;
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private readonly inbox = new Inbox();
  private readonly sleeper = new Sleeper();
  private progress = new Map<number, PartitionProgress>();
  /** Highest offset put in the inbox per partition in this epoch: skips a re-fetched overlap. */
  private fetchedUpTo = new Map<number, bigint>();
  private epoch = 0;
  private paused = false;
  private fatal: Error | null = null;
  /** Set while the consumer leaves and joins again after a refused rebalance. */
  private rejoining: Promise<void> | null = null;
  private closed = false;
  private readonly unlisten: Array<() => void> = [];

  constructor(
    private readonly target: KafkaTarget,
    private readonly settings: Omit<SourceSettings, "stream">,
  ) {
    if (settings.group === "" || settings.consumer === "") {
      throw new Error("Kafka source: group and consumer must be non-empty");
    }
    this.description = `${target.description} (group ${settings.group}, consumer ${settings.consumer})`;
    this.kafka = createKafka(target);
  }

  /**
   * Joins the group, retrying a join the coordinator refused mid-rebalance: kafkajs gives up on
   * some of those answers (librdkafka's mock cluster answers a SyncGroup racing another
   * member's join or leave with INVALID_REQUEST), though the next attempt joins.
   */
  async open(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.openOnce();
        return;
      } catch (err) {
        if (attempt >= JOIN_ATTEMPTS || this.closed || !joinRefused(err)) throw err;
        await this.sleeper.sleep(JOIN_RETRY_MS * attempt);
      }
    }
  }

  private async openOnce(): Promise<void> {
    if (this.consumer) return;
    if (this.closed) throw new Error(`${this.description}: open() after close()`);
    const admin = this.kafka.admin();
    await connectAdmin(admin, this.target);
    this.admin = admin;
    try {
      await ensureTopic(admin, this.target);
      const consumer = this.kafka.consumer({
        groupId: this.settings.group,
        // kafkajs' round-robin stays second so members of an older mldeploy can share the
        // group during a rolling upgrade (the broker picks a protocol all members support).
        partitionAssigners: [subscribedRoundRobin, PartitionAssigners.roundRobin],
        sessionTimeout: this.target.sessionTimeout,
        heartbeatInterval: this.target.heartbeatInterval,
        maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
        allowAutoTopicCreation: false,
      });
      this.consumer = consumer;
      this.listen(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [this.target.topic], fromBeginning: true });
      // Resolves once the first group join is done (or failed: see the crash listener).
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.onBatch(payload),
      });
      if (this.fatal) throw this.fatal;
    } catch (err) {
      await this.teardown();
      if (err instanceof UserError) throw err;
      throw new Error(`${this.description}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private listen(consumer: Consumer): void {
    const { GROUP_JOIN, REBALANCING, STOP, CRASH } = consumer.events;
    this.unlisten.push(
      consumer.on(REBALANCING, () => this.newEpoch()),
      consumer.on(GROUP_JOIN, () => this.newEpoch()),
      // kafkajs stops the consumer before restarting it after a crash: a new group session.
      consumer.on(STOP, () => this.newEpoch()),
      consumer.on(CRASH, (event) => {
        this.newEpoch();
        // restart = false: kafkajs gave up (a non-retriable error); read() reports it.
        if (!event.payload.restart) this.fatal = event.payload.error;
        this.inbox.wakeAll();
      }),
    );
  }

  /**
   * Group sessions this member has been through (joins, rebalances, restarts after a crash): a
   * change means what was handed out and not committed may come again (at-least-once).
   */
  get groupSessions(): number {
    return this.epoch;
  }

  private newEpoch(): void {
    this.epoch++;
    this.progress = new Map();
    this.fetchedUpTo = new Map();
    this.inbox.clear();
    this.maybeResume();
  }

  private async onBatch({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload) {
    if (this.closed || !isRunning() || isStale()) return;
    const { partition } = batch;
    const after = this.fetchedUpTo.get(partition) ?? -1n;
    const fresh = batch.messages.filter((m) => BigInt(m.offset) > after);
    if (fresh.length === 0) {
      // All of it is in the inbox or handed out already (kafkajs re-fetched an overlap).
      const last = batch.messages.at(-1);
      if (last) resolveOffset(last.offset);
      return;
    }
    const room = Math.max(0, this.target.maxInFlight - this.inFlight());
    const taken = fresh.slice(0, room);
    if (taken.length > 0) {
      const last = taken[taken.length - 1];
      this.fetchedUpTo.set(partition, BigInt(last.offset));
      this.inbox.push(taken.map((m) => toFetched(partition, m)));
      // Moves kafkajs' fetch position past what we took; commits nothing (autoCommit off).
      resolveOffset(last.offset);
    }
    if (taken.length < fresh.length) this.pause();
  }

  private inFlight(): number {
    let unacked = 0;
    for (const progress of this.progress.values()) unacked += progress.unacked;
    return this.inbox.size + unacked;
  }

  private pause(): void {
    if (this.paused || !this.consumer) return;
    try {
      this.consumer.pause([{ topic: this.target.topic }]);
      this.paused = true;
    } catch {
      // Not running (between a crash and its restart): the restarted consumer is not paused,
      // and onBatch still takes only what fits.
    }
  }

  private maybeResume(): void {
    if (!this.paused || this.inFlight() > this.target.maxInFlight / 2) return;
    this.paused = false;
    try {
      this.consumer?.resume([{ topic: this.target.topic }]);
    } catch {
      // Not running: a restarted consumer starts unpaused anyway.
    }
  }

  /** Returns once maxMessages are here or maxWaitMs has passed (a micro-batch window). */
  async read(options: ReadBatchOptions): Promise<StreamMessage[]> {
    if (this.rejoining) await this.rejoining;
    if (!this.consumer) {
      if (this.closed) return [];
      throw new Error(`${this.description}: read() before open()`);
    }
    const max = Math.max(1, Math.floor(options.maxMessages));
    const deadline = Date.now() + options.maxWaitMs;
    while (this.inbox.size < max && !this.closed && !this.fatal) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.inbox.waitForChange(left);
    }
    if (this.fatal && joinRefused(this.fatal) && !this.closed) {
      // kafkajs gives up on a rebalance the coordinator refused (see open()); joining again
      // gets past it. What was fetched and not acked is delivered again, as after any rebalance.
      await this.rejoin();
      return [];
    }
    if (this.fatal) {
      throw new Error(`${this.description}: consumer stopped: ${this.fatal.message}`, {
        cause: this.fatal,
      });
    }
    return this.inbox.take(max).map((fetched) => {
      let progress = this.progress.get(fetched.partition);
      if (!progress) this.progress.set(fetched.partition, (progress = new PartitionProgress()));
      progress.handOut(fetched.offset);
      return {
        data: fetched.data,
        position: fetched.offset.toString(),
        partition: String(fetched.partition),
      };
    });
  }

  /**
   * Commits what the acks complete and resolves once the coordinator stored it. Idempotent:
   * unknown or already acked positions are skipped, and a commit that failed is retried by
   * the next ack() call.
   */
  async ack(messages: StreamMessage[]): Promise<void> {
    const { consumer } = this;
    // Messages of a session left for a rejoin are not this member's to commit any more.
    if (!consumer && this.rejoining) return;
    if (!consumer) throw new Error(`${this.description}: ack() before open()`);
    const epoch = this.epoch;
    for (const message of messages) {
      const partition = Number(message.partition);
      if (!/^\d+$/.test(message.position)) continue; // not ours: nothing to commit
      this.progress.get(partition)?.ack(BigInt(message.position));
    }
    this.maybeResume();
    const commits: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const [partition, progress] of this.progress) {
      const offset = progress.pendingCommit();
      if (offset !== undefined) {
        commits.push({ topic: this.target.topic, partition, offset: offset.toString() });
      }
    }
    if (commits.length === 0) return;
    try {
      await consumer.commitOffsets(commits);
    } catch (err) {
      // The group is rebalancing or this member was dropped: these partitions may be another
      // member's now, so the refusal is right; their messages are delivered again.
      if (this.epoch !== epoch || groupChanged(err)) return;
      throw new Error(`${this.description}: offset commit failed`, { cause: err });
    }
    if (this.epoch !== epoch) return;
    for (const { partition, offset } of commits) {
      this.progress.get(partition)?.markCommitted(BigInt(offset));
    }
  }

  async lag(): Promise<StreamLag | undefined> {
    const { admin } = this;
    if (!admin) return undefined;
    return { messages: await groupLag(admin, this.target.topic, this.settings.group) };
  }

  /**
   * Leaves the group without committing anything more: messages fetched or handed out and
   * not acked go to the next owner of their partition, at once (no redelivery timeout).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wakeAll();
    await this.teardown();
  }

  private rejoin(): Promise<void> {
    this.rejoining ??= (async () => {
      try {
        await this.teardown();
        await this.open();
      } catch (err) {
        if (!this.closed) throw err;
      } finally {
        this.rejoining = null;
      }
    })();
    return this.rejoining;
  }

  /** Leaves the group and drops what was fetched; open() may join again after it. */
  private async teardown(): Promise<void> {
    const { consumer, admin } = this;
    this.consumer = null;
    this.admin = null;
    for (const off of this.unlisten.splice(0)) off();
    this.progress = new Map();
    this.fetchedUpTo = new Map();
    this.inbox.clear();
    this.paused = false;
    await Promise.allSettled([consumer?.disconnect(), admin?.disconnect()]);
    // A crash of the attempt torn down is not this source's state any more.
    this.fatal = null;
  }
}

function toFetched(partition: number, message: KafkaMessage): Fetched {
  // Copied: kafkajs' values are slices of a whole fetch response, kept alive by any one of them.
  const data = message.value ? new Uint8Array(message.value) : new Uint8Array(0);
  return { partition, offset: BigInt(message.offset), data };
}

/** Group-coordination refusals a later join attempt can get past. */
const JOIN_REFUSED = new Set([
  ...GROUP_CHANGED,
  "INVALID_REQUEST",
  "COORDINATOR_NOT_AVAILABLE",
  "NOT_COORDINATOR",
  "COORDINATOR_LOAD_IN_PROGRESS",
]);
const JOIN_ATTEMPTS = 5;
const JOIN_RETRY_MS = 500;

function joinRefused(err: unknown): boolean {
  return hasType(err, JOIN_REFUSED);
}

/** Walks the cause chain: kafkajs wraps protocol errors in retry errors. */
function groupChanged(err: unknown): boolean {
  return hasType(err, GROUP_CHANGED);
}

function hasType(err: unknown, types: ReadonlySet<string>): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const type: unknown = Reflect.get(e, "type");
    if (typeof type === "string" && types.has(type)) return true;
    e = e.cause ?? Reflect.get(e, "originalError");
  }
  return false;
}

export function openKafkaSource(
  url: string,
  settings: Omit<SourceSettings, "stream">,
): KafkaSource {
  return new KafkaSource(parseKafkaUrl(url), settings);
}
