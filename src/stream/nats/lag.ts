import type { StreamLag } from "../types.js";
import type { NatsHandle } from "./connection.js";

/**
 * The group's lag from its durable consumer's info:
 * - messages = num_pending (stored, not yet delivered to the group) + num_ack_pending
 *   (delivered, not acknowledged yet): every event the group has still to finish;
 * - behindMs = age of the oldest of them, the first message above the ack floor (JetStream
 *   stamps each message with the time it stored it). Left out when that message is gone
 *   (deleted, purged or aged out by the stream's limits).
 */
export async function durableLag(
  handle: NatsHandle,
  stream: string,
  group: string,
): Promise<StreamLag> {
  const info = await handle.jsm.consumers.info(stream, group);
  const messages = info.num_pending + info.num_ack_pending;
  if (messages === 0) return { messages, behindMs: 0 };
  try {
    const oldest = await handle.jsm.streams.getMessage(stream, {
      seq: info.ack_floor.stream_seq + 1,
    });
    return { messages, behindMs: Math.max(0, Date.now() - oldest.time.getTime()) };
  } catch {
    return { messages };
  }
}
