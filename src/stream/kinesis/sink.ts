import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import type { StreamSink } from "../types.js";
import { connectKinesis, explain, type KinesisConnection } from "./client.js";
import { chunkEntries, toEntries, type PutEntry } from "./records.js";
import { FIRST_DELAY_MS, MAX_DELAY_MS, withRetry, type RetryOptions } from "./retry.js";
import { ensureStream } from "./stream-admin.js";
import type { KinesisTarget } from "./url.js";
import { Sleeper } from "../sleeper.js";
import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";

export interface KinesisSinkOptions {
  /** Keep retrying rejected records (throttling) this long before publish() fails. Default 60 000. */
  retryForMs?: number;
  /** Where AWS_* settings are read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const DEFAULT_RETRY_FOR_MS = 60_000;

/**
 * Publishes with PutRecords, in chunks of at most 500 records / 5 MiB, one chunk after the
 * other. PutRecords is not all-or-nothing: some entries can be rejected (throttled shard,
 * internal failure) while the rest are stored; only the rejected ones are sent again, with
 * backoff, and publish() resolves once every record has a sequence number. So a record is
 * never published twice by a retry, but the retried ones land after later ones of the same
 * key: per-key order holds unless Kinesis throttles.
 */
export class KinesisSink implements StreamSink {
  readonly description: string;
  private connection: KinesisConnection | undefined;
  private readonly sleeper = new Sleeper();
  private readonly retry: RetryOptions;
  private closed = false;

  constructor(
    private readonly target: KinesisTarget,
    private readonly options: KinesisSinkOptions = {},
  ) {
    this.description = target.description;
    this.retry = {
      retryForMs: options.retryForMs ?? DEFAULT_RETRY_FOR_MS,
      sleeper: this.sleeper,
      isClosed: () => this.closed,
      log: new OutageLog(options.logger, `${this.description}: publish`),
    };
  }

  async open(): Promise<void> {
    if (this.connection) return;
    const connection = connectKinesis(this.target, this.options.env);
    try {
      await ensureStream(connection.client, this.target);
    } catch (err) {
      connection.client.destroy();
      throw explain(err, `cannot open ${this.target.description}`, connection.where);
    }
    this.connection = connection;
  }

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    if (messages.length === 0) return;
    if (this.closed) throw new Error(`Kinesis sink ${this.description} is closed`);
    const { connection } = this;
    if (!connection) throw new Error(`${this.description}: publish() before open()`);
    for (const chunk of chunkEntries(toEntries(messages))) {
      try {
        await this.putAll(connection, chunk);
      } catch (err) {
        throw explain(err, `publishing to ${this.description}`, connection.where);
      }
    }
  }

  /** PutRecords until every entry is accepted, resending only the rejected ones. */
  private async putAll(connection: KinesisConnection, entries: PutEntry[]): Promise<void> {
    let pending = entries;
    let failingSince: number | undefined;
    let delay = FIRST_DELAY_MS;
    for (;;) {
      const batch = pending;
      const result = await withRetry(
        () =>
          connection.client.send(
            new PutRecordsCommand({ StreamName: this.target.stream, Records: batch }),
          ),
        this.retry,
      );
      if (!result.FailedRecordCount) return;
      // Results come back in request order: entry i failed when result i has an ErrorCode.
      const results = result.Records ?? [];
      const failed = batch.filter((_, i) => results[i]?.ErrorCode !== undefined);
      const first = results.find((r) => r.ErrorCode !== undefined);
      const now = Date.now();
      failingSince ??= now;
      if (this.closed || now - failingSince >= this.retry.retryForMs || failed.length === 0) {
        throw new Error(
          `${failed.length || result.FailedRecordCount} of ${batch.length} records rejected by Kinesis ` +
            `(${first?.ErrorCode}: ${first?.ErrorMessage})`,
        );
      }
      pending = failed;
      await this.sleeper.sleep(delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wakeAll();
    this.connection?.client.destroy();
  }
}
