import type { Redis } from "ioredis";
import type { StreamLag } from "../types.js";

/**
 * The group's lag from XINFO GROUPS (Redis ≥ 7.0):
 * - messages = `lag` (entries not yet delivered to the group) + `pending` (delivered, not
 *   acknowledged). Redis reports `lag` as nil when it cannot compute it (entries deleted with
 *   XDEL between the group's position and the end, or Redis 6.2, which has no such field):
 *   then messages is left out rather than guessed.
 * - behindMs = age of the oldest of them, read from its entry id, whose first part is the
 *   millisecond Redis added it (ids generated with `*`, as the sink does): the smallest
 *   pending id if any, else the first entry after the group's last-delivered-id.
 * undefined when the stream or the group does not exist (yet).
 */
export async function groupLag(
  client: Redis,
  stream: string,
  group: string,
): Promise<StreamLag | undefined> {
  let groups: unknown;
  try {
    groups = await client.call("XINFO", "GROUPS", stream);
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return undefined;
    throw err;
  }
  const info = (Array.isArray(groups) ? groups : [])
    .map((g: unknown) => fieldsOf(g))
    .find((g) => g.get("name") === group);
  if (!info) return undefined;
  const pending = Number(info.get("pending") ?? 0);
  const undelivered = info.get("lag");
  const lag: StreamLag = {};
  if (typeof undelivered === "number") lag.messages = undelivered + pending;

  let oldest: string | undefined;
  if (pending > 0) {
    const summary = await client.call("XPENDING", stream, group);
    if (Array.isArray(summary) && typeof summary[1] === "string") oldest = summary[1];
  } else if (undelivered !== 0) {
    const lastDelivered = String(info.get("last-delivered-id") ?? "0-0");
    const next = await client.call("XRANGE", stream, `(${lastDelivered}`, "+", "COUNT", "1");
    if (Array.isArray(next) && Array.isArray(next[0]) && typeof next[0][0] === "string")
      oldest = next[0][0];
  }
  if (oldest !== undefined) lag.behindMs = Math.max(0, Date.now() - Number(oldest.split("-")[0]));
  // No pending entry and nothing after the group's position: nothing is waiting.
  else if (pending === 0) lag.behindMs = 0;
  return lag;
}

/** XINFO replies are flat [name, value, name, value, …] lists. */
function fieldsOf(reply: unknown): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  return fields;
}
