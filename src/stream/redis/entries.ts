import { inspect } from "node:util";
import type { StreamMessage } from "../types.js";

/**
 * Turning raw stream entries into StreamMessages.
 *
 * Entry layout written by the sink (and expected from any producer): the payload bytes in the
 * field `data` (PAYLOAD_FIELD), optionally the message key in `key`. An entry without `data`
 * (a foreign or buggy producer) is NOT dropped: its data becomes the JSON object of all its
 * fields (values as UTF-8 text), which fails event validation downstream and so reaches the
 * dead-letter output with its entry id, instead of vanishing or being retried forever.
 *
 * Replies are read with ioredis' Buffer mode so payloads keep their exact bytes; they are
 * checked at run time rather than cast, since the reply shape is only known by convention.
 */

export const PAYLOAD_FIELD = "data";
export const KEY_FIELD = "key";

/** One entry of an XREADGROUP/XAUTOCLAIM reply; fields is null for an entry deleted meanwhile. */
export interface RawEntry {
  id: string;
  fields: Buffer[] | null;
}

export function toMessage(
  entry: RawEntry & { fields: Buffer[] },
  deliveries: number,
): StreamMessage {
  return { data: payloadOf(entry.fields), position: entry.id, deliveries };
}

function payloadOf(fields: Buffer[]): Uint8Array {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    // Copied: ioredis' parser may hand out slices of a buffer it reuses.
    if (fields[i].toString() === PAYLOAD_FIELD) return new Uint8Array(fields[i + 1]);
  }
  const all: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2)
    all[fields[i].toString()] = fields[i + 1].toString();
  return new TextEncoder().encode(JSON.stringify(all));
}

/** `[[id, [field, value, …] | null], …]` */
export function parseEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply)) throw unexpected("entry list", reply);
  return reply.map((item: unknown): RawEntry => {
    if (!Array.isArray(item) || item.length < 2 || !Buffer.isBuffer(item[0])) {
      throw unexpected("entry", item);
    }
    const fields: unknown = item[1];
    if (fields === null) return { id: item[0].toString(), fields: null };
    if (!Array.isArray(fields) || !fields.every((f) => Buffer.isBuffer(f))) {
      throw unexpected("entry fields", fields);
    }
    return { id: item[0].toString(), fields };
  });
}

/** XREADGROUP: null on timeout, else `[[key, entries]]` for the one key asked for. */
export function parseReadGroupReply(reply: unknown): RawEntry[] {
  if (reply === null) return [];
  if (!Array.isArray(reply)) throw unexpected("XREADGROUP reply", reply);
  return reply.flatMap((perKey: unknown) => {
    if (!Array.isArray(perKey) || perKey.length !== 2)
      throw unexpected("XREADGROUP stream", perKey);
    return parseEntries(perKey[1]);
  });
}

/** XAUTOCLAIM: `[next cursor, entries, deleted ids (Redis ≥ 7)]`. */
export function parseAutoClaimReply(reply: unknown): { cursor: string; entries: RawEntry[] } {
  if (!Array.isArray(reply) || reply.length < 2 || !Buffer.isBuffer(reply[0])) {
    throw unexpected("XAUTOCLAIM reply", reply);
  }
  return { cursor: reply[0].toString(), entries: parseEntries(reply[1]) };
}

/** XPENDING key group id id 1: `[[id, consumer, idle ms, deliveries]]` or `[]`. */
export function parsePendingDeliveries(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) throw unexpected("XPENDING reply", reply);
  const first: unknown = reply[0];
  if (first === undefined) return undefined;
  if (!Array.isArray(first) || typeof first[3] !== "number")
    throw unexpected("XPENDING entry", first);
  return first[3];
}

function unexpected(what: string, value: unknown): Error {
  return new Error(`unexpected Redis ${what}: ${inspect(value, { depth: 3 }).slice(0, 200)}`);
}
