import { createInbox, type Msg, type Subscription } from "nats";
import type { NatsHandle } from "./connection.js";

/** How long a round waits for its PubAcks (nats.js' own js.publish timeout is 5 s too). */
const PUBACK_TIMEOUT_MS = 5000;

/** What became of each message of a round. */
export interface RoundResult {
  /** Indices (into the round's messages) JetStream has not confirmed: send them again. */
  unconfirmed: number[];
  /** A JetStream error reply (stream full, wrong subject …): retrying would not help. */
  rejected?: string;
  /** No stream listens on the subject (JetStream down or restarting, stream deleted). */
  noResponders: boolean;
}

interface Round {
  confirmed: Uint8Array;
  remaining: number;
  rejected?: string;
  noResponders: boolean;
  finish: () => void;
}

/**
 * Publishing to JetStream with many PubAcks in flight, at the cost of a core NATS publish.
 *
 * js.publish() is a request per message (its own reply subscription entry, timer and promise),
 * which limited the sink to ~10,000 messages/s here. Instead, every message of a round goes out
 * as a plain publish whose reply subject is `<inbox>.<round>.<index>` on one wildcard
 * subscription; the stream stores it and answers there with its PubAck. One timer per round,
 * one Uint8Array of flags, and the round knows exactly which messages are stored.
 */
export class PubAckRounds {
  private readonly inbox = createInbox();
  private readonly subscription: Subscription;
  private readonly rounds = new Map<number, Round>();
  private nextRound = 0;
  private readonly stopListening: () => void;

  constructor(private readonly handle: NatsHandle) {
    this.subscription = handle.nc.subscribe(`${this.inbox}.>`, {
      callback: (err, msg) => {
        if (!err) this.answer(msg);
      },
    });
    // After a disconnect no PubAck of the rounds in flight will come: end them now.
    this.stopListening = handle.onDisconnect(() => {
      for (const round of this.rounds.values()) round.finish();
    });
  }

  /** Publishes `messages` to `subject` and resolves when all are answered, or at a disconnect or timeout. */
  send(subject: string, messages: Uint8Array[]): Promise<RoundResult> {
    const id = this.nextRound++;
    return new Promise<RoundResult>((resolve) => {
      const round: Round = {
        confirmed: new Uint8Array(messages.length),
        remaining: messages.length,
        noResponders: false,
        finish: () => {
          clearTimeout(timer);
          this.rounds.delete(id);
          const unconfirmed: number[] = [];
          round.confirmed.forEach((flag, i) => {
            if (flag === 0) unconfirmed.push(i);
          });
          resolve({ unconfirmed, rejected: round.rejected, noResponders: round.noResponders });
        },
      };
      const timer = setTimeout(round.finish, PUBACK_TIMEOUT_MS);
      this.rounds.set(id, round);
      const prefix = `${this.inbox}.${id}.`;
      for (let i = 0; i < messages.length; i++) {
        this.handle.nc.publish(subject, messages[i], { reply: prefix + i });
      }
    });
  }

  private answer(msg: Msg): void {
    const tail = msg.subject.slice(this.inbox.length + 1);
    const dot = tail.indexOf(".");
    const round = this.rounds.get(Number(tail.slice(0, dot)));
    const index = Number(tail.slice(dot + 1));
    if (!round || !(index >= 0 && index < round.confirmed.length) || round.confirmed[index] !== 0)
      return;
    // 503 "no responders": a status message with an empty body, not a PubAck.
    if (msg.headers?.code === 503) round.noResponders = true;
    else {
      const error = pubAckError(msg.data);
      if (error === undefined) round.confirmed[index] = 1;
      else round.rejected ??= error;
    }
    if (--round.remaining === 0) round.finish();
  }

  close(): void {
    this.stopListening();
    for (const round of this.rounds.values()) round.finish();
    this.subscription.unsubscribe();
  }
}

const decoder = new TextDecoder();

/** `{"stream":` : how every successful PubAck starts (an error reply starts `{"error":`). */
const PUBACK_START = new TextEncoder().encode('{"stream":');

function isPubAck(data: Uint8Array): boolean {
  if (data.length < PUBACK_START.length) return false;
  for (let i = 0; i < PUBACK_START.length; i++) if (data[i] !== PUBACK_START[i]) return false;
  return true;
}

/**
 * undefined for a PubAck (`{"stream":…,"seq":…}`), else the error JetStream described.
 * The success case is recognised by its first bytes: one JSON.parse per stored message was a
 * visible share of the consumer's time.
 */
function pubAckError(data: Uint8Array): string | undefined {
  if (isPubAck(data)) return undefined;
  let reply: unknown;
  try {
    reply = JSON.parse(decoder.decode(data));
  } catch {
    return `unreadable PubAck: ${decoder.decode(data).slice(0, 200)}`;
  }
  if (typeof reply !== "object" || reply === null) return "unreadable PubAck";
  const error: unknown = Reflect.get(reply, "error");
  if (error === undefined)
    return Reflect.get(reply, "seq") === undefined ? "PubAck without seq" : undefined;
  const description: unknown =
    typeof error === "object" && error !== null ? Reflect.get(error, "description") : undefined;
  return typeof description === "string" ? description : JSON.stringify(error);
}
