import { UnreachableError } from "../../config/errors.js";
import type { Logger } from "../../log/logger.js";
import { OutageLog } from "../outage-log.js";
import type {
  ReadBatchOptions,
  SourceSettings,
  StreamLag,
  StreamMessage,
  StreamSource,
} from "../types.js";
import { ackBatch, nakAll } from "./ack.js";
import { closeNats, connectNats, ensureStream, type NatsHandle } from "./connection.js";
import { ensureDurable, type DurableSettings } from "./durable.js";
import { durableLag } from "./lag.js";
import { retryAcrossOutage } from "./outage.js";
import { PullBuffer, type PulledMessage } from "./pulls.js";
import { describeTarget, parseNatsUrl, type NatsTarget } from "./url.js";

export interface NatsSourceOptions {
  /** Redelivery delay for unacked messages (default 30 s, or `?ack_wait_ms=` in the URL). */
  ackWaitMs?: number;
  /** Unacked messages in flight for the whole group (default 10,000, or `?max_ack_pending=`). */
  maxAckPending?: number;
  /** read() throws once the broker has been unreachable or failing this long (default 60 s). */
  maxOutageMs?: number;
  /** Where retries across an outage are reported (default: nowhere). */
  logger?: Logger;
}

const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 10_000;
const DEFAULT_MAX_OUTAGE_MS = 60_000;
/** While no pull can be sent (disconnected, backing off), look again this often. */
const IDLE_POLL_MS = 50;
const MAX_BACKOFF_MS = 5000;

export class NatsSource implements StreamSource {
  readonly description: string;
  private readonly durable: DurableSettings;
  private readonly maxOutageMs: number;
  private handle: NatsHandle | null = null;
  private pulls: PullBuffer | null = null;
  /** Messages handed out by read() and not yet acked, by stream sequence. */
  private readonly unacked = new Map<string, PulledMessage>();
  private outageSince: number | null = null;
  private failures = 0;
  private retryAt = 0;
  private lastError: unknown;
  /** Set after a failed pull: the stream or consumer may be gone and must be re-ensured. */
  private rebind = false;
  private stopListening: (() => void) | null = null;
  private readonly readOutage: OutageLog;
  private readonly ackOutage: OutageLog;

  constructor(
    private readonly target: NatsTarget,
    private readonly settings: Omit<SourceSettings, "stream">,
    options: NatsSourceOptions = {},
  ) {
    this.durable = {
      ackWaitMs: options.ackWaitMs ?? target.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
      maxAckPending: options.maxAckPending ?? target.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    };
    this.maxOutageMs = options.maxOutageMs ?? DEFAULT_MAX_OUTAGE_MS;
    this.description = `${describeTarget(target)} (group ${settings.group}, consumer ${settings.consumer})`;
    this.readOutage = new OutageLog(options.logger, `${this.description}: read`);
    this.ackOutage = new OutageLog(options.logger, `${this.description}: ack`);
  }

  async open(): Promise<void> {
    if (this.handle) return;
    const handle = await connectNats(
      this.target,
      `mldeploy source ${this.settings.group}/${this.settings.consumer}`,
    );
    try {
      await this.bind(handle);
    } catch (err) {
      await closeNats(handle.nc);
      throw err;
    }
    const pulls = new PullBuffer(
      handle.nc,
      this.target.stream,
      this.settings.group,
      { healthy: () => this.healthy(), failed: (err) => this.failed(err) },
      // Delivered after close() stopped the pulls: give them back at once.
      (late) => nakAll(late, handle),
    );
    this.stopListening = handle.onDisconnect(() => pulls.disconnected());
    this.pulls = pulls;
    this.handle = handle;
  }

  private async bind(handle: NatsHandle): Promise<void> {
    await ensureStream(handle.jsm, this.target.stream);
    await ensureDurable(handle.jsm, this.target.stream, this.settings.group, this.durable);
  }

  /**
   * Returns once maxMessages are here or maxWaitMs has passed (a micro-batch window). Broker
   * outages are not thrown: read() keeps retrying with backoff and returns [] meanwhile,
   * until the outage exceeds maxOutageMs.
   */
  async read(options: ReadBatchOptions): Promise<StreamMessage[]> {
    if (!this.handle) throw new Error(`${this.description}: read() before open()`);
    const deadline = Date.now() + options.maxWaitMs;
    for (;;) {
      // Re-read the fields each turn: close() or a rebind may replace them while we wait.
      const { handle, pulls } = this;
      if (!handle || !pulls) return [];
      if (pulls.size >= options.maxMessages) break;
      if (!handle.isConnected() && this.outageSince === null) {
        this.outageSince = Date.now();
        this.readOutage.failed(this.lastError ?? "disconnected");
      }
      if (this.outageSince !== null && Date.now() - this.outageSince > this.maxOutageMs) {
        const cause = this.lastError ?? "disconnected";
        // An outage, not a bug: the CLI prints one line, no stack.
        throw new UnreachableError(
          `${this.description}: broker unavailable for over ${this.maxOutageMs} ms (${describe(cause)})`,
          {
            cause,
          },
        );
      }
      if (!pulls.pulling && handle.isConnected() && Date.now() >= this.retryAt) {
        await this.startPull(handle, pulls, options.maxMessages - pulls.size, deadline);
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await pulls.waitForChange(
        pulls.pulling ? left : Math.min(left, IDLE_POLL_MS),
        options.maxMessages,
      );
    }
    return (this.pulls?.take(options.maxMessages) ?? []).map((msg) => {
      const message = toStreamMessage(msg);
      this.unacked.set(message.position, msg);
      return message;
    });
  }

  private async startPull(
    handle: NatsHandle,
    pulls: PullBuffer,
    max: number,
    deadline: number,
  ): Promise<void> {
    try {
      if (this.rebind) {
        // Re-ensures the stream and consumer, in case they vanished (deleted, state lost).
        // The buffer and its inbox stay: what they hold is ours until acked or nak'ed.
        await this.bind(handle);
        if (this.pulls !== pulls) return; // closed meanwhile
        this.rebind = false;
      }
      pulls.pull(max, deadline - Date.now());
    } catch (err) {
      this.failed(err);
    }
  }

  private healthy(): void {
    this.readOutage.recovered();
    this.outageSince = null;
    this.failures = 0;
    this.retryAt = 0;
  }

  private failed(err: unknown): void {
    this.lastError = err;
    this.readOutage.failed(err);
    this.outageSince ??= Date.now();
    this.failures++;
    this.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, 100 * 2 ** (this.failures - 1));
    this.rebind = true;
  }

  /**
   * Acks the batch and resolves once the server has received the acks (ack.ts); across a
   * broker restart the acks are sent again until they get through or maxOutageMs passes.
   * Idempotent: positions already acked (or never read here) are skipped.
   */
  async ack(messages: StreamMessage[]): Promise<void> {
    if (!this.handle) throw new Error(`${this.description}: ack() before open()`);
    const msgs: PulledMessage[] = [];
    const positions: string[] = [];
    for (const { position } of messages) {
      const msg = this.unacked.get(position);
      if (msg) {
        msgs.push(msg);
        positions.push(position);
      }
    }
    if (msgs.length === 0) return;
    await retryAcrossOutage(
      () => this.handle,
      (handle) => ackBatch(msgs, handle),
      {
        maxOutageMs: this.maxOutageMs,
        isTransient: () => true,
        what: `${this.description}: ack`,
        log: this.ackOutage,
      },
    );
    for (const position of positions) this.unacked.delete(position);
  }

  /** See lag.ts; undefined while the broker is unreachable. */
  async lag(): Promise<StreamLag | undefined> {
    const { handle } = this;
    if (!handle?.isConnected()) return undefined;
    return durableLag(handle, this.target.stream, this.settings.group);
  }

  async close(): Promise<void> {
    const { handle, pulls } = this;
    this.handle = null;
    this.pulls = null;
    this.stopListening?.();
    this.stopListening = null;
    // Messages pulled but never handed out go back at once (nak), not after ack_wait, and so
    // do those the open pull still delivers while the connection drains (see PullBuffer).
    // Handed-out unacked ones are left to ack_wait: their processing may have failed.
    const unread = pulls?.stop() ?? [];
    if (handle) {
      nakAll(unread, handle);
      await closeNats(handle.nc);
    }
    this.unacked.clear();
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function toStreamMessage(msg: PulledMessage): StreamMessage {
  return {
    data: msg.data,
    position: String(msg.streamSequence),
    partition: msg.subject,
    deliveries: msg.deliveries,
  };
}

export function openNatsSource(
  url: string,
  settings: Omit<SourceSettings, "stream">,
  options?: NatsSourceOptions,
): NatsSource {
  return new NatsSource(parseNatsUrl(url), settings, options);
}
