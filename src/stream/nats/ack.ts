import type { NatsHandle } from "./connection.js";

const ACK = new TextEncoder().encode("+ACK");
const NAK = new TextEncoder().encode("-NAK");
const FLUSH_TIMEOUT_MS = 5000;

/**
 * Acknowledges a batch: one +ACK per message to its reply subject, then one PING/PONG round
 * trip (flush). The PONG comes after the server has read every ack before it, so a resolved
 * call means the server has the acks. That is what at-least-once needs: a lost ack can only
 * cause a redelivery, never a loss. It costs one round trip per batch, where a confirmed ack
 * per message (ackAck: a request, a reply and a timer each) cost most of the consumer's time.
 *
 * The acks are published by hand to each message's ack subject: after a disconnect (nats.js
 * drops unsent data) the same acks must be sent again.
 */
export async function ackBatch(
  messages: Array<{ reply: string }>,
  handle: NatsHandle,
): Promise<void> {
  if (messages.length === 0) return;
  const { nc } = handle;
  for (const msg of messages) nc.publish(msg.reply, ACK);
  await flushWithin(handle, FLUSH_TIMEOUT_MS);
}

/**
 * Gives messages back for redelivery now rather than after ack_wait (best effort: a nak that
 * does not get through only means waiting for ack_wait).
 */
export function nakAll(messages: Array<{ reply: string }>, handle: NatsHandle): void {
  for (const msg of messages) {
    try {
      handle.nc.publish(msg.reply, NAK);
    } catch {
      return; // closed or no longer publishing: ack_wait will bring them back
    }
  }
}

/** nc.flush(), failing at a disconnect (nats.js rejects it) or after `ms`. */
export async function flushWithin(handle: NatsHandle, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no PONG within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([handle.nc.flush(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
