import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from "@aws-sdk/client-kinesis";
import type { StreamMessage } from "../types.js";
import { AckTracker } from "./ack-tracker.js";
import { awsErrorName } from "./client.js";
import { FIRST_DELAY_MS, MAX_DELAY_MS, isTransient } from "./retry.js";

export interface ShardReaderOptions {
  client: KinesisClient;
  stream: string;
  shardId: string;
  /** The lease's checkpoint: read AFTER_SEQUENCE_NUMBER it; null = from TRIM_HORIZON. */
  startAfter: string | null;
  /** Least time between two GetRecords on this shard. */
  pollMs: number;
  /** Give up (error) when GetRecords keeps failing transiently this long. */
  retryForMs: number;
  /** Called when a fetch finished (records or not), so a waiting read() looks again. */
  onProgress: () => void;
}

/**
 * Reads one leased shard with GetShardIterator + GetRecords, one page ahead: a page is
 * fetched in the background while the consumer works, and handed out by take(). Holds the
 * shard's AckTracker, so the source knows how far the checkpoint may move.
 *
 * - Iterators expire after 5 minutes unused (a consumer busy or paused that long): a new one
 *   is asked for AFTER_SEQUENCE_NUMBER the last record read, so nothing is skipped or repeated.
 * - Throttling and network errors back off and retry; after `retryForMs` of failures, or at
 *   once for any other error (stream deleted, access denied), `error` is set for read() to throw.
 * - A closed shard (after a split or merge) ends when GetRecords returns no next iterator.
 */
export class ShardReader {
  readonly shardId: string;
  readonly tracker = new AckTracker();
  /** MillisBehindLatest of the last GetRecords. */
  behindMs: number | undefined;
  /** The last page was full or behind the tip: more is waiting right now. */
  moreWaiting = true;
  error: unknown;
  /** undefined = none yet; null = the shard is closed and read to its end. */
  private iterator: string | null | undefined;
  private lastRead: string | null;
  private buffer: StreamMessage[] = [];
  private fetching: Promise<void> | undefined;
  private nextPollAt = 0;
  private failingSince: number | undefined;
  private delay = FIRST_DELAY_MS;
  private readonly abort = new AbortController();

  constructor(private readonly options: ShardReaderOptions) {
    this.shardId = options.shardId;
    this.lastRead = options.startAfter;
  }

  /** Closed, read to the end, and nothing left to hand out. */
  get ended(): boolean {
    return this.iterator === null && this.buffer.length === 0 && this.fetching === undefined;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  get inFlight(): boolean {
    return this.fetching !== undefined;
  }

  /** When the next fetch may start (epoch ms), or undefined when none will. */
  get dueAt(): number | undefined {
    if (this.iterator === null || this.error !== undefined || this.fetching) return undefined;
    return this.buffer.length > 0 ? undefined : this.nextPollAt;
  }

  /** Starts a background fetch of up to `limit` records if one is due. */
  poll(now: number, limit: number): void {
    const due = this.dueAt;
    if (due === undefined || due > now || this.abort.signal.aborted) return;
    this.fetching = this.fetchPage(limit).finally(() => {
      this.fetching = undefined;
      this.options.onProgress();
    });
  }

  /** Hands out up to n buffered records, recording them as delivered (unacknowledged). */
  take(n: number): StreamMessage[] {
    const taken = this.buffer.splice(0, n);
    for (const message of taken) this.tracker.deliver(message.position);
    return taken;
  }

  /** Stops reading: aborts a GetRecords in flight and waits for it to settle. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.buffer = [];
    await this.fetching;
  }

  private async fetchPage(limit: number): Promise<void> {
    const { client, shardId } = this.options;
    try {
      this.iterator ??= await this.newIterator();
      if (this.iterator === null) return;
      const page = await client.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }),
        { abortSignal: this.abort.signal },
      );
      if (this.abort.signal.aborted) return;
      const records = page.Records ?? [];
      for (const record of records) {
        if (record.SequenceNumber === undefined) continue;
        this.buffer.push({
          data: record.Data ?? new Uint8Array(0),
          position: record.SequenceNumber,
          partition: shardId,
        });
        this.lastRead = record.SequenceNumber;
      }
      this.iterator = page.NextShardIterator ?? null;
      this.behindMs = page.MillisBehindLatest;
      this.moreWaiting = records.length >= limit || (page.MillisBehindLatest ?? 0) > 0;
      this.nextPollAt = Date.now() + this.options.pollMs;
      this.failingSince = undefined;
      this.delay = FIRST_DELAY_MS;
    } catch (err) {
      if (this.abort.signal.aborted) return;
      const name = awsErrorName(err);
      if (name === "ExpiredIteratorException") {
        this.iterator = undefined; // a fresh one after lastRead, at once
        return;
      }
      if (name === "ResourceNotFoundException" && this.iterator === undefined) {
        // A closed shard aged out of the stream (past its retention) since it was listed:
        // nothing left to read, so it ends like a closed shard read to its end. (A deleted
        // stream shows up in the lease round's ListShards instead.)
        this.iterator = null;
        return;
      }
      if (name === "InvalidArgumentException" && this.iterator === undefined) {
        this.error = new Error(
          `cannot resume shard ${this.shardId} after sequence number ${this.lastRead}: ` +
            `${err instanceof Error ? err.message : String(err)} (was the stream deleted and ` +
            "created again? start a new --group, or delete this group's checkpoint rows)",
          { cause: err },
        );
        return;
      }
      const now = Date.now();
      this.failingSince ??= now;
      if (!isTransient(err) || now - this.failingSince >= this.options.retryForMs) {
        this.error = err;
        return;
      }
      this.nextPollAt = now + this.delay;
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    }
  }

  private async newIterator(): Promise<string | null> {
    const { client, stream, shardId } = this.options;
    const out = await client.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shardId,
        ...(this.lastRead === null
          ? { ShardIteratorType: "TRIM_HORIZON" }
          : { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber: this.lastRead }),
      }),
      { abortSignal: this.abort.signal },
    );
    // No iterator: the shard is closed and has nothing after that point.
    return out.ShardIterator ?? null;
  }
}
