import { UserError } from "../config/errors.js";
import type { Partition } from "./types.js";

/** "2/4" → { index: 2, count: 4 } (the options schema has checked the shape). */
export function parsePartition(text: string | undefined): Partition | undefined {
  if (text === undefined) return undefined;
  const [index, count] = text.split("/").map(Number);
  return { index, count };
}

/** Refuses a partition outside 0 <= i < N before any query is built from it. */
export function checkPartition(partition: Partition): void {
  const { index, count } = partition;
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    !Number.isInteger(index) ||
    index < 0 ||
    index >= count
  ) {
    throw new UserError(`--partition ${index}/${count}: need 0 <= i < N`);
  }
}
