import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
} from "nats";
import { apiErrorCode, CONSUMER_NOT_FOUND } from "./connection.js";

export interface DurableSettings {
  /** How long the server waits for an ack before redelivering (to any group member). */
  ackWaitMs: number;
  /** Unacked messages the server hands out to the whole group at most: the backpressure. */
  maxAckPending: number;
}

/** Same rule as stream names: a consumer name is one subject token in the JetStream API. */
const CONSUMER_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The group's durable pull consumer, created if missing. Every process of the group binds to
 * this one consumer, so the server hands each message to exactly one of their pull requests
 * (work-queue style) and redelivers unacked ones to whoever pulls next.
 *
 * A new group starts at the beginning of the stream (DeliverPolicy.All), so events published
 * before the first consumer was deployed are still processed. If the group exists with other
 * ack_wait / max_ack_pending, they are updated: the latest deployment's settings win.
 */
export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  group: string,
  settings: DurableSettings,
): Promise<ConsumerInfo> {
  if (!CONSUMER_NAME.test(group)) {
    throw new Error(`invalid consumer group "${group}": use letters, digits, "_" and "-" only`);
  }
  const wanted: Partial<ConsumerConfig> = {
    ack_wait: nanos(settings.ackWaitMs),
    max_ack_pending: settings.maxAckPending,
  };
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(stream, group);
  } catch (err) {
    if (apiErrorCode(err) !== CONSUMER_NOT_FOUND) throw err;
  }
  if (info) {
    const { config } = info;
    if (config.ack_wait === wanted.ack_wait && config.max_ack_pending === wanted.max_ack_pending) {
      return info;
    }
    return jsm.consumers.update(stream, group, wanted);
  }
  try {
    return await jsm.consumers.add(stream, {
      ...wanted,
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
  } catch (err) {
    // Another member of the group created it first: use theirs.
    try {
      return await jsm.consumers.info(stream, group);
    } catch {
      throw err;
    }
  }
}
