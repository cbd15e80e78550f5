import { createInbox, nanos, type Msg, type NatsConnection } from "nats";

/** Long enough that an idle source costs about one pull request per second. */
const MIN_EXPIRES_MS = 1000;
/** Long pulls cost nothing, but keep them short enough to notice a vanished consumer. */
const MAX_EXPIRES_MS = 30_000;
/**
 * A pull the server neither filled nor ended (408) this long after its expiry is taken as
 * ended, so the next one can be asked for. Anything it still delivers lands in the buffer.
 */
const END_GRACE_MS = 1000;

/** A message delivered by a pull, with what ack/nak and the source's positions need. */
export interface PulledMessage {
  data: Uint8Array;
  /** The subject it was published to. */
  subject: string;
  /** Its ack subject (`$JS.ACK.…`): +ACK or -NAK go there. */
  reply: string;
  streamSequence: number;
  /** How many times JetStream has delivered it, this time included (1 = first). */
  deliveries: number;
}

export interface PullEvents {
  /** A message arrived or a pull ended normally: the broker is reachable. */
  healthy(): void;
  /** A pull ended with an error (consumer deleted, no responders, …). */
  failed(err: unknown): void;
}

/**
 * JetStream pull requests of one durable consumer, feeding a local buffer, at most one
 * request open at a time.
 *
 * Why not nats.js' `consumer.fetch()`: a fetch subscribes an inbox of its own and
 * unsubscribes it at a client-side deadline (1.05 × expires) that is not the server's (the
 * server counts `expires` from when the request reached it). Messages the server sent for
 * the request that had not been read off the socket by then (an event loop busy for a
 * second, a server slow to answer) were dropped by the client without a word, while the
 * server counted them delivered: the whole block came back only after ack_wait. Here one
 * inbox subscription lives as long as the buffer, every pull request answers to it, and a
 * message that arrives at any time, however late, is buffered: no pulled message is dropped.
 *
 * Why a buffer instead of one request per read(): read() may be asked to wait only 20 ms,
 * while a pull request lasts at least 1 s. read() returns at its own deadline and leaves the
 * request open; what the server sends later is returned by the next read(). The buffer stays
 * bounded: a request asks for at most what the caller's batch still lacks.
 */
export class PullBuffer {
  private readonly buffered: PulledMessage[] = [];
  private readonly inbox: string;
  /** The pull request open now: its reply-subject token, what it may still deliver, its timer. */
  private open: { token: string; remaining: number; timer: NodeJS.Timeout } | null = null;
  private requests = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** The waiter wants to hear of arrivals only once this many messages are buffered. */
  private wakeAt = 1;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly durable: string,
    private readonly events: PullEvents,
    private readonly onLate: (messages: PulledMessage[]) => void = () => undefined,
  ) {
    this.inbox = createInbox();
    // Lives as long as the connection (closing drains it); nats.js renews it after a reconnect.
    nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => (err ? this.fail(err) : this.arrived(msg)),
    });
  }

  get size(): number {
    return this.buffered.length;
  }

  get pulling(): boolean {
    return this.open !== null;
  }

  /** Asks the server for up to `max` messages within `waitMs`, unless a pull is still open. */
  pull(max: number, waitMs: number): void {
    if (this.open || this.stopped || max <= 0) return;
    const expires = Math.min(MAX_EXPIRES_MS, Math.max(MIN_EXPIRES_MS, Math.ceil(waitMs)));
    const token = String(++this.requests);
    this.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.durable}`,
      JSON.stringify({ batch: max, expires: nanos(expires) }),
      { reply: `${this.inbox}.${token}` },
    );
    const timer = setTimeout(() => this.end(token), expires + END_GRACE_MS);
    this.open = { token, remaining: max, timer };
  }

  /** The connection dropped: the server forgot the open request; a new one may be sent. */
  disconnected(): void {
    if (this.open) this.end(this.open.token);
  }

  private arrived(msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (code === 0) {
      const message = toPulled(msg);
      if (!message) return;
      if (this.stopped) {
        this.onLate([message]);
        return;
      }
      this.buffered.push(message);
      this.events.healthy();
      const { open } = this;
      if (open && --open.remaining <= 0) this.end(open.token);
      // Waking the reader for every message of a batch cost a timer and a promise each.
      else if (this.buffered.length >= this.wakeAt) this.notify();
      return;
    }
    if (code === 100) return; // idle heartbeat or flow control: not asked for, nothing to do
    // A status ends the request it answers (its reply subject names it); older ones are over.
    const token = msg.subject.slice(this.inbox.length + 1);
    if (this.open?.token === token) this.end(token);
    // 408: expired; 404: nothing to deliver. Anything else (409 consumer deleted, 503 no
    // responders: the stream or consumer is gone) makes the source re-ensure them.
    if (code === 408 || code === 404) this.events.healthy();
    else this.events.failed(new Error(`JetStream pull: ${code} ${msg.headers?.description ?? ""}`));
  }

  private fail(err: unknown): void {
    if (this.open) this.end(this.open.token);
    this.events.failed(err);
  }

  private end(token: string): void {
    if (this.open?.token !== token) return;
    clearTimeout(this.open.timer);
    this.open = null;
    this.notify();
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

  take(max: number): PulledMessage[] {
    return this.buffered.splice(0, max);
  }

  /**
   * Stops asking; returns the messages received and never handed out. The inbox stays
   * subscribed until the connection is drained, so what the open request still delivers
   * goes to `onLate` (to be given back) instead of vanishing.
   */
  stop(): PulledMessage[] {
    this.stopped = true;
    if (this.open) this.end(this.open.token);
    this.notify();
    return this.buffered.splice(0);
  }
}

/** The JetStream delivery in a message, or undefined for anything else on the inbox. */
function toPulled(msg: Msg): PulledMessage | undefined {
  const reply = msg.reply;
  if (!reply) return undefined;
  // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>, or
  // with <domain>.<account hash> after $JS.ACK and a random token at the end (v2 form).
  const tokens = reply.split(".");
  if (tokens[0] !== "$JS" || tokens[1] !== "ACK") return undefined;
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  return {
    data: msg.data,
    subject: msg.subject,
    reply,
    deliveries: Number(tokens[at]),
    streamSequence: Number(tokens[at + 1]),
  };
}
