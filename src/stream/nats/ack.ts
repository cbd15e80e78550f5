import type { JsMsg, NatsConnection } from "nats";

const ACK = new TextEncoder().encode("+ACK");
const RETRY_DELAYS_MS = [250, 500, 1000];
const ACK_TIMEOUT_MS = 2000;

/**
 * Acknowledges one message and waits for the server's confirmation, so a resolved ack()
 * really means "will not be redelivered". ackAck() can be called only once per message, so
 * retries (a reconnect in the middle) resend the ack by hand to the same reply subject.
 */
export async function ackConfirmed(msg: JsMsg, nc: NatsConnection): Promise<void> {
  let lastError: unknown;
  try {
    await msg.ackAck({ timeout: ACK_TIMEOUT_MS });
    return;
  } catch (err) {
    lastError = err;
  }
  const reply = replySubject(msg);
  if (!reply) throw lastError;
  for (const delayMs of RETRY_DELAYS_MS) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      await nc.request(reply, ACK, { timeout: ACK_TIMEOUT_MS });
      return;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** The ack subject: public on nats.js' message class, though not on the JsMsg interface. */
function replySubject(msg: JsMsg): string | undefined {
  const reply: unknown = Reflect.get(msg, "reply");
  return typeof reply === "string" && reply !== "" ? reply : undefined;
}
