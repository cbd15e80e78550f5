/**
 * Redis Streams transport. URL: `redis://[[user]:password@]host[:port]/<stream key>[?db=N]`
 * (see url.ts), e.g. `redis://127.0.0.1:6379/ride_events`. Payloads travel in the entry
 * field `data` (see entries.ts).
 */
import type { SourceSettings, StreamSink, StreamSource } from "../types.js";
import { RedisSink, type RedisSinkOptions } from "./sink.js";
import { RedisSource, type RedisSourceOptions } from "./source.js";
import { parseRedisStreamUrl } from "./url.js";

export { PAYLOAD_FIELD, KEY_FIELD } from "./entries.js";
export { parseRedisStreamUrl, type RedisStreamTarget } from "./url.js";
export type { RedisSinkOptions } from "./sink.js";
export type { RedisSourceOptions } from "./source.js";

/** A consumer of the stream named by the URL; call open() before read(). */
export function openRedisSource(
  url: string,
  settings: Omit<SourceSettings, "stream"> & Omit<RedisSourceOptions, "group" | "consumer">,
): StreamSource {
  return new RedisSource(parseRedisStreamUrl(url), settings);
}

/** A producer to the stream named by the URL; call open() before publish(). */
export function openRedisSink(url: string, options?: RedisSinkOptions): StreamSink {
  return new RedisSink(parseRedisStreamUrl(url), options);
}
