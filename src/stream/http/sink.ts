import { UserError } from "../../config/errors.js";
import type { Logger } from "../../log/logger.js";
import { Sleeper } from "../sleeper.js";
import type { StreamSink } from "../types.js";

/** Requests in flight at once: enough to keep a local service busy, few enough to be polite. */
const CONCURRENCY = 16;
const ATTEMPTS = 5;
const FIRST_RETRY_MS = 200;

/** A request the service refused (4xx): sending it again would get the same answer. */
export class HttpRefusedError extends UserError {
  constructor(
    readonly status: number,
    readonly body: string,
    url: string,
  ) {
    super(`${url} answered ${status}: ${body.slice(0, 300)}`);
  }
}

/**
 * POSTs each message as a JSON request body to an HTTP endpoint (a web service's /predict, a
 * webhook). publish() resolves once every request got a 2xx answer; requests go out
 * concurrently (so not strictly in order). A 5xx, 429 or a connection failure is retried with
 * backoff; a 4xx is the request's fault and fails the publish with the service's answer.
 */
export class HttpSink implements StreamSink {
  readonly description: string;
  private readonly sleeper = new Sleeper();
  private closed = false;
  /** Answers by status, for a summary (e.g. `produce`'s). */
  readonly statuses = new Map<number, number>();

  constructor(
    private readonly url: string,
    private readonly options: { logger?: Logger; headers?: Record<string, string> } = {},
  ) {
    this.description = url;
  }

  async open(): Promise<void> {}

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    if (this.closed) throw new Error(`HTTP sink ${this.description} is closed`);
    let next = 0;
    const worker = async () => {
      while (next < messages.length) {
        const message = messages[next++];
        await this.post(message.data);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, messages.length) }, worker));
  }

  private async post(body: Uint8Array): Promise<void> {
    let delay = FIRST_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      try {
        const response = await fetch(this.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...this.options.headers },
          body,
        });
        const text = await response.text();
        this.statuses.set(response.status, (this.statuses.get(response.status) ?? 0) + 1);
        if (response.ok) return;
        if (response.status < 500 && response.status !== 429)
          throw new HttpRefusedError(response.status, text, this.url);
        failure = `${response.status} ${text.slice(0, 200)}`;
      } catch (error) {
        if (error instanceof HttpRefusedError) throw error;
        failure = (error as Error).cause
          ? String((error as Error & { cause: unknown }).cause)
          : (error as Error).message;
      }
      if (attempt >= ATTEMPTS || this.closed)
        throw new Error(`${this.url}: ${failure} (after ${attempt} attempts)`);
      this.options.logger?.warn({ url: this.url, attempt, failure }, `retrying ${this.url}`);
      await this.sleeper.sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sleeper.wakeAll();
  }
}
