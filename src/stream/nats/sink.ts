import type { StreamSink } from "../types.js";
import { closeNats, connectNats, ensureStream, type NatsHandle } from "./connection.js";
import { describeTarget, parseNatsUrl, type NatsTarget } from "./url.js";

/**
 * Publishes to the stream's subject (= the stream name) and resolves once every message has
 * its PubAck, i.e. is stored by JetStream. The optional `key` is not used: a JetStream stream
 * here has one subject and no partitions, and the key is no unique id, so it cannot serve as
 * the Nats-Msg-Id for deduplication either.
 */
export class NatsSink implements StreamSink {
  readonly description: string;
  private handle: NatsHandle | null = null;

  constructor(private readonly target: NatsTarget) {
    this.description = describeTarget(target);
  }

  async open(): Promise<void> {
    if (this.handle) return;
    const handle = await connectNats(this.target, "mldeploy sink");
    try {
      await ensureStream(handle.jsm, this.target.stream);
    } catch (err) {
      await closeNats(handle.nc);
      throw err;
    }
    this.handle = handle;
  }

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    const { handle } = this;
    if (!handle) throw new Error(`${this.description}: publish() before open()`);
    if (messages.length === 0) return;
    // js.publish writes its request synchronously, so issuing them in a loop puts them on the
    // one connection in order, and JetStream stores them in arrival order; awaiting the acks
    // together keeps a batch at one round trip instead of one per message.
    const acks = messages.map((m) => handle.js.publish(this.target.stream, m.data));
    const results = await Promise.allSettled(acks);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) {
      throw new Error(
        `${this.description}: ${failed.length} of ${messages.length} messages not acknowledged by JetStream`,
        { cause: failed[0].reason },
      );
    }
  }

  async close(): Promise<void> {
    const { handle } = this;
    this.handle = null;
    if (handle) await closeNats(handle.nc);
  }
}

export function openNatsSink(url: string): NatsSink {
  return new NatsSink(parseNatsUrl(url));
}
