import type { Consumer, ConsumerMessages, JsMsg } from "nats";

/** nats.js rejects pull requests that expire sooner than 1 s. */
const MIN_EXPIRES_MS = 1000;
/** Long pulls cost nothing, but keep them short enough to notice a vanished consumer. */
const MAX_EXPIRES_MS = 30_000;

export interface PullEvents {
  /** A message arrived or a pull ended normally: the broker is reachable. */
  healthy(): void;
  /** A pull ended with an error (consumer deleted, no responders, …). */
  failed(err: unknown): void;
}

/**
 * At most one open JetStream pull request, feeding a local buffer.
 *
 * Why a buffer instead of one fetch per read(): nats.js pull requests last at least 1 s, but
 * read() may be asked to wait only 50 ms. read() therefore returns at its own deadline and
 * leaves the pull open; whatever the server sends later lands here and is returned by the
 * next read(). Nothing is lost or pulled twice, and an idle source costs one pull per second.
 * The buffer stays bounded: a pull asks for at most what the caller's batch still lacks.
 */
export class PullBuffer {
  private readonly buffered: JsMsg[] = [];
  private open: ConsumerMessages | null = null;
  private wake: (() => void) | null = null;
  /** The waiter wants to hear of arrivals only once this many messages are buffered. */
  private wakeAt = 1;

  constructor(
    private readonly consumer: Consumer,
    private readonly events: PullEvents,
  ) {}

  get size(): number {
    return this.buffered.length;
  }

  get pulling(): boolean {
    return this.open !== null;
  }

  /** Asks the server for up to `max` messages within `waitMs`, unless a pull is still open. */
  async pull(max: number, waitMs: number): Promise<void> {
    if (this.open || max <= 0) return;
    const expires = Math.min(MAX_EXPIRES_MS, Math.max(MIN_EXPIRES_MS, Math.ceil(waitMs)));
    const messages = await this.consumer.fetch({ max_messages: max, expires });
    this.open = messages;
    void this.collect(messages);
  }

  private async collect(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        this.buffered.push(msg);
        this.events.healthy();
        // Waking the reader for every message of a batch cost a timer and a promise each.
        if (this.buffered.length >= this.wakeAt) this.notify();
      }
      this.events.healthy();
    } catch (err) {
      this.events.failed(err);
    } finally {
      if (this.open === messages) this.open = null;
      this.notify();
    }
  }

  /**
   * Resolves once `wanted` messages are buffered (default: at the next arrival), at the end of
   * the pull, or after `ms`.
   */
  waitForChange(ms: number, wanted = 1): Promise<void> {
    // A waiter already chained keeps its own (possibly smaller) threshold.
    this.wakeAt = this.wake === null ? wanted : Math.min(this.wakeAt, wanted);
    return new Promise((resolve) => {
      // Chain any earlier waiter so no caller is left hanging.
      const previous = this.wake;
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) {
          this.wake = null;
          this.wakeAt = 1;
        }
        previous?.();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wake = done;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    this.wakeAt = 1;
    wake?.();
  }

  /** Takes over messages a previous buffer received but did not hand out. */
  adopt(messages: JsMsg[]): void {
    this.buffered.push(...messages);
  }

  take(max: number): JsMsg[] {
    return this.buffered.splice(0, max);
  }

  /** Ends the open pull; returns the messages received but never handed out. */
  stop(): JsMsg[] {
    const open = this.open;
    this.open = null;
    open?.stop();
    this.notify();
    return this.buffered.splice(0);
  }
}
