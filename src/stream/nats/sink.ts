import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";
import type { StreamSink } from "../types.js";
import { closeNats, connectNats, ensureStream, type NatsHandle } from "./connection.js";
import { retryAcrossOutage } from "./outage.js";
import { PubAckRounds } from "./pubacks.js";
import { describeTarget, parseNatsUrl, type NatsTarget } from "./url.js";

export interface NatsSinkOptions {
  /** publish() throws once the broker has been unreachable or failing this long (default 60 s). */
  maxOutageMs?: number;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const DEFAULT_MAX_OUTAGE_MS = 60_000;

/** JetStream answered with an error (stream full, wrong subject …): retrying would not help. */
class Refused extends Error {}

/** Messages JetStream has not confirmed yet: send them again after the backoff. */
class Unconfirmed extends Error {
  constructor(
    readonly left: Array<{ data: Uint8Array }>,
    noResponders: boolean,
  ) {
    super(
      `${left.length} messages not confirmed by JetStream${noResponders ? " (no responders: stream unavailable)" : ""}`,
    );
  }
}

/**
 * Publishes to the stream's subject (= the stream name) and resolves once every message has
 * its PubAck, i.e. is stored by JetStream (see pubacks.ts for how the PubAcks are collected).
 * While the broker is away (restart, network), publish() keeps sending what is not confirmed
 * yet, with backoff, for up to maxOutageMs; a confirmed message is never sent twice by one
 * publish() call, though one stored just before a disconnect may be (its PubAck was lost):
 * at-least-once. The optional `key` is not used: a JetStream stream here has one subject and
 * no partitions, and the key is no unique id, so it cannot serve as the Nats-Msg-Id either.
 */
export class NatsSink implements StreamSink {
  readonly description: string;
  private handle: NatsHandle | null = null;
  private rounds: PubAckRounds | null = null;
  private readonly maxOutageMs: number;
  private readonly outage: OutageLog;

  constructor(
    private readonly target: NatsTarget,
    options: NatsSinkOptions = {},
  ) {
    this.description = describeTarget(target);
    this.maxOutageMs = options.maxOutageMs ?? DEFAULT_MAX_OUTAGE_MS;
    this.outage = new OutageLog(options.logger, `${this.description}: publish`);
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
    this.rounds = new PubAckRounds(handle);
  }

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    if (!this.handle) throw new Error(`${this.description}: publish() before open()`);
    if (messages.length === 0) return;
    let left: Array<{ data: Uint8Array }> = messages;
    let restoreStream = false;
    await retryAcrossOutage(
      () => this.handle,
      async (handle) => {
        // No responders that persist after a reconnect: the stream may be gone (its store was
        // lost or it was deleted); re-create it as open() did.
        if (restoreStream) await ensureStream(handle.jsm, this.target.stream);
        const result = await this.rounds!.send(
          this.target.stream,
          left.map((m) => m.data),
        );
        if (result.rejected !== undefined) {
          throw new Refused(`${this.description}: JetStream refused a message: ${result.rejected}`);
        }
        if (result.unconfirmed.length === 0) return;
        left = result.unconfirmed.map((i) => left[i]);
        restoreStream = result.noResponders;
        throw new Unconfirmed(left, result.noResponders);
      },
      {
        maxOutageMs: this.maxOutageMs,
        // A refused message is final; anything else (no answer, no responders, a failed
        // stream lookup during the restart) is the broker coming back.
        isTransient: (err) => !(err instanceof Refused),
        what: this.description,
        log: this.outage,
      },
    );
  }

  async close(): Promise<void> {
    const { handle } = this;
    this.handle = null;
    this.rounds?.close();
    this.rounds = null;
    if (handle) await closeNats(handle.nc);
  }
}

export function openNatsSink(url: string, options?: NatsSinkOptions): NatsSink {
  return new NatsSink(parseNatsUrl(url), options);
}
