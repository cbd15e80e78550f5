/**
 * AWS Kinesis Data Streams transport: `kinesis://<stream>[?endpoint=…&region=…&create=true
 * &shards=N&checkpoints=…&lease_ms=…&poll_ms=…]` (see url.ts). Sources of one group share
 * the shards through leases kept, with the per-shard checkpoints, in SQLite or PostgreSQL
 * (see source.ts and checkpoints/).
 */
import type { SourceSettings } from "../types.js";
import { KinesisSink, type KinesisSinkOptions } from "./sink.js";
import { KinesisSource, type KinesisSourceOptions } from "./source.js";
import { parseKinesisUrl } from "./url.js";

export { KinesisSink, type KinesisSinkOptions } from "./sink.js";
export { KinesisSource, type KinesisSourceOptions } from "./source.js";
export { parseKinesisUrl, type KinesisTarget } from "./url.js";
export { partitionKey } from "./records.js";
export { DEFAULT_CHECKPOINT_FILE } from "./checkpoints/open.js";

/** A member of the consumer group on the stream the URL names; call open() before read(). */
export function openKinesisSource(
  url: string,
  settings: Omit<SourceSettings, "stream"> & Omit<KinesisSourceOptions, "group" | "consumer">,
): KinesisSource {
  return new KinesisSource(parseKinesisUrl(url), settings);
}

/** A producer to the stream the URL names; call open() before publish(). */
export function openKinesisSink(url: string, options?: KinesisSinkOptions): KinesisSink {
  return new KinesisSink(parseKinesisUrl(url), options);
}
