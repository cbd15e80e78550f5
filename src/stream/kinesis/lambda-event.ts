import { UserError } from "../../config/errors.js";
import type { StreamMessage } from "../types.js";

/**
 * The Kinesis event AWS Lambda passes to a function subscribed to a stream (event source
 * mapping), as documented in "Using Lambda with Kinesis": only the fields we read.
 *
 *   {"Records": [{"kinesis": {"data": "<base64>", "sequenceNumber": "4959…",
 *                             "partitionKey": "1", …},
 *                 "eventSource": "aws:kinesis", "eventID": "shardId-000000000006:4959…",
 *                 "eventSourceARN": "arn:aws:kinesis:…:stream/ride_events", …}]}
 */
export interface KinesisEventRecord {
  kinesis?: {
    data?: unknown;
    sequenceNumber?: unknown;
    partitionKey?: unknown;
  };
  eventSource?: unknown;
  eventID?: unknown;
  eventSourceARN?: unknown;
}

export interface KinesisStreamEvent {
  Records?: unknown;
}

export interface EventMessages {
  /** One message per record with a `kinesis.data` string, in event order. */
  messages: StreamMessage[];
  /** Records that carry no payload at all: reported, never dropped silently. */
  broken: Array<{ index: number; position: string; partition?: string; error: string }>;
  /** The stream the event came from (its ARN), for dead letters and logs. */
  source: string;
}

/**
 * The records of a Kinesis event as StreamMessages (payload = the base64-decoded data,
 * position = sequence number, partition = the shard id from eventID), so the stream
 * consumer's batch code can predict them unchanged. Anything that is not a Kinesis event is
 * a misconfigured trigger: a UserError, the whole invocation fails.
 */
export function messagesFromEvent(event: unknown): EventMessages {
  const records = (event as KinesisStreamEvent | null)?.Records;
  if (typeof event !== "object" || event === null || !Array.isArray(records)) {
    throw new UserError(
      'not a Kinesis event: expected {"Records": [{"kinesis": {"data": …}}]} (is the function triggered by a Kinesis stream?)',
    );
  }
  const out: EventMessages = { messages: [], broken: [], source: "kinesis (lambda event)" };
  records.forEach((item: unknown, index) => {
    const record = (typeof item === "object" && item !== null ? item : {}) as KinesisEventRecord;
    if (record.eventSource !== undefined && record.eventSource !== "aws:kinesis") {
      throw new UserError(
        `Records[${index}].eventSource is ${JSON.stringify(record.eventSource)}, not "aws:kinesis": this handler reads Kinesis events only`,
      );
    }
    if (typeof record.eventSourceARN === "string") out.source = record.eventSourceARN;
    const sequence = record.kinesis?.sequenceNumber;
    const position = typeof sequence === "string" ? sequence : `Records[${index}]`;
    const partition = shardOf(record.eventID);
    const data = record.kinesis?.data;
    if (typeof data !== "string") {
      out.broken.push({
        index,
        position,
        partition,
        error: `Records[${index}].kinesis.data is missing or not a base64 string`,
      });
      return;
    }
    out.messages.push({ data: Buffer.from(data, "base64"), position, partition });
  });
  return out;
}

/** eventID is "<shard id>:<sequence number>". */
function shardOf(eventId: unknown): string | undefined {
  if (typeof eventId !== "string") return undefined;
  const colon = eventId.indexOf(":");
  return colon > 0 ? eventId.slice(0, colon) : undefined;
}
