import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  type KinesisClient,
  type Shard,
} from "@aws-sdk/client-kinesis";
import { UserError } from "../../config/errors.js";
import { awsErrorName } from "./client.js";
import type { KinesisTarget } from "./url.js";

/** AWS takes up to about a minute to create a stream; local servers no time at all. */
const ACTIVE_WITHIN_MS = 120_000;
const STATUS_POLL_MS = 100;

/**
 * Makes sure the stream exists and accepts reads and writes; returns its ARN (the checkpoint
 * key: it names region and account, which a bare name does not). A missing stream is created
 * with `shards` shards when the URL says create=true, else it is a UserError saying how.
 */
export async function ensureStream(client: KinesisClient, target: KinesisTarget): Promise<string> {
  const deadline = Date.now() + ACTIVE_WITHIN_MS;
  let created = false;
  for (;;) {
    let summary;
    try {
      summary = (await client.send(new DescribeStreamSummaryCommand({ StreamName: target.stream })))
        .StreamDescriptionSummary;
    } catch (err) {
      if (awsErrorName(err) !== "ResourceNotFoundException") throw err;
      if (!target.create) {
        throw new UserError(
          `Kinesis stream "${target.stream}" does not exist: create it ` +
            `(aws kinesis create-stream --stream-name ${target.stream} --shard-count 1) ` +
            `or add ?create=true&shards=N to the kinesis:// URL`,
        );
      }
      if (!created) {
        created = true;
        await createStream(client, target);
      }
      summary = undefined;
    }
    const status = summary?.StreamStatus;
    // UPDATING (resharding, retention change) still serves reads and writes.
    if (summary && (status === "ACTIVE" || status === "UPDATING")) {
      if (!summary.StreamARN) throw new Error(`Kinesis stream "${target.stream}" has no ARN`);
      return summary.StreamARN;
    }
    if (status === "DELETING") {
      throw new UserError(`Kinesis stream "${target.stream}" is being deleted`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Kinesis stream "${target.stream}" not active after ${ACTIVE_WITHIN_MS / 1000} s (status ${status ?? "missing"})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS));
  }
}

async function createStream(client: KinesisClient, target: KinesisTarget): Promise<void> {
  try {
    await client.send(
      new CreateStreamCommand({ StreamName: target.stream, ShardCount: target.shards }),
    );
  } catch (err) {
    // Another process created it first: fine, wait for it to become active like them.
    if (awsErrorName(err) !== "ResourceInUseException") throw err;
  }
}

export interface ShardInfo {
  shardId: string;
  /** Parent (split) or parents (merge): their records come before this shard's. */
  parents: string[];
}

/** Every shard the stream still holds, open and closed (ListShards, all pages). */
export async function listShards(client: KinesisClient, stream: string): Promise<ShardInfo[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    // StreamName and NextToken are mutually exclusive in ListShards.
    const page = await client.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards.flatMap((shard) =>
    shard.ShardId
      ? [
          {
            shardId: shard.ShardId,
            parents: [shard.ParentShardId, shard.AdjacentParentShardId].filter(
              (id): id is string => typeof id === "string" && id !== "",
            ),
          },
        ]
      : [],
  );
}
