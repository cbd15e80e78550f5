import type { JsMsg } from "nats";
import type { NatsHandle } from "./connection.js";

const ACK = new TextEncoder().encode("+ACK");
const FLUSH_TIMEOUT_MS = 5000;

/**
 * Acknowledges a batch: one +ACK per message to its reply subject, then one PING/PONG round
 * trip (flush). The PONG comes after the server has read every ack before it, so a resolved
 * call means the server has the acks. That is what at-least-once needs: a lost ack can only
 * cause a redelivery, never a loss. It costs one round trip per batch, where a confirmed ack
 * per message (ackAck: a request, a reply and a timer each) cost most of the consumer's time.
 *
 * The acks are published by hand rather than with msg.ack(), which does nothing once called:
 * after a disconnect (nats.js drops unsent data) the same acks must be sent again.
 */
export async function ackBatch(messages: JsMsg[], handle: NatsHandle): Promise<void> {
  if (messages.length === 0) return;
  const { nc } = handle;
  for (const msg of messages) {
    const reply = replySubject(msg);
    if (reply) nc.publish(reply, ACK);
    else msg.ack();
  }
  await flushWithin(handle, FLUSH_TIMEOUT_MS);
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

/** The ack subject: public on nats.js' message class, though not on the JsMsg interface. */
function replySubject(msg: JsMsg): string | undefined {
  const reply: unknown = Reflect.get(msg, "reply");
  return typeof reply === "string" && reply !== "" ? reply : undefined;
}
