import type { Checkpoint, KeyValue } from "../types.js";

/**
 * Checkpoint values are stored as JSON text so they come back with their JS type: a numeric id
 * stays a number, a BIGINT beyond 2^53 or a microsecond timestamp stays the exact text the
 * source returned, and both bind again as the key column's own type.
 */
export function encodeKey(value: KeyValue): string {
  return JSON.stringify(value);
}

function decodeKey(text: string, what: string): KeyValue {
  const value: unknown = JSON.parse(text);
  if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value)))
    return value;
  throw new Error(`checkpoint ${what} ${text} is neither a string nor a number`);
}

export function decodeCheckpoint(since: unknown, id: unknown): Checkpoint {
  if (typeof id !== "string") throw new Error("checkpoint row without an id");
  const checkpoint: Checkpoint = { id: decodeKey(id, "id") };
  if (typeof since === "string") checkpoint.since = decodeKey(since, "since");
  return checkpoint;
}
