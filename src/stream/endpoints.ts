import { hostname } from "node:os";
import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import type { StreamSink, StreamSource } from "./types.js";

/** This process's consumer name within a group: host and pid, unique while it runs. */
export function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}`;
}

function scheme(url: string): string {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase() ?? "";
}

const SUPPORTED =
  "nats://host:4222/<stream>, redis://host:6379/<stream key>, kafka://host:9092[,host2:9092]/<topic> or kinesis://<stream>[?endpoint=http://host:port]";

/** Opens the source a --source URL names (the transport is chosen by the scheme). */
export async function openStreamSource(
  url: string,
  settings: {
    group: string;
    consumer?: string;
    dataDir?: string;
    /** Where retries across an outage are reported (default: nowhere). */
    logger?: Logger;
  },
): Promise<StreamSource> {
  const consumer = settings.consumer ?? defaultConsumerName();
  const { group, logger } = settings;
  switch (scheme(url)) {
    case "nats": {
      const { openNatsSource } = await import("./nats/index.js");
      return openNatsSource(url, { group, consumer }, { logger });
    }
    case "redis": {
      const { openRedisSource } = await import("./redis/index.js");
      return openRedisSource(url, { group, consumer, logger });
    }
    case "kafka": {
      const { openKafkaSource } = await import("./kafka/index.js");
      return openKafkaSource(url, { group, consumer });
    }
    case "kinesis": {
      const { openKinesisSource } = await import("./kinesis/index.js");
      return openKinesisSource(url, { group, consumer, dataDir: settings.dataDir, logger });
    }
    default:
      throw new UserError(`unsupported stream URL "${url}": use ${SUPPORTED}`);
  }
}

/** Opens the sink a --sink / --dead-letter / --to URL names. */
export async function openStreamSink(
  url: string,
  options: {
    /** Where retries across an outage are reported (default: nowhere). */
    logger?: Logger;
  } = {},
): Promise<StreamSink> {
  const { logger } = options;
  switch (scheme(url)) {
    case "nats": {
      const { openNatsSink } = await import("./nats/index.js");
      return openNatsSink(url, { logger });
    }
    case "redis": {
      const { openRedisSink } = await import("./redis/index.js");
      return openRedisSink(url, { logger });
    }
    case "kafka": {
      const { openKafkaSink } = await import("./kafka/index.js");
      return openKafkaSink(url);
    }
    case "kinesis": {
      const { openKinesisSink } = await import("./kinesis/index.js");
      return openKinesisSink(url, { logger });
    }
    case "http":
    case "https": {
      const { HttpSink } = await import("./http/sink.js");
      return new HttpSink(url, { logger });
    }
    default:
      throw new UserError(`unsupported stream URL "${url}": use ${SUPPORTED}`);
  }
}
