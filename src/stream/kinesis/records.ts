import { createHash } from "node:crypto";

/**
 * Kinesis PutRecords limits (AWS API reference): at most 500 records and 5 MiB per request,
 * each record's data plus partition key at most 1 MiB, partition keys 1 to 256 characters.
 */
export const MAX_RECORDS_PER_PUT = 500;
export const MAX_BYTES_PER_PUT = 5 * 1024 * 1024;
export const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_KEY_CHARS = 256;

export interface PutEntry {
  Data: Uint8Array;
  PartitionKey: string;
}

/**
 * The partition key decides the shard (by its MD5) and so the order: records with the same
 * key keep their order. The message key when there is one (the ride id for predictions);
 * otherwise, and for a key too long for Kinesis, the MD5 of the payload (or key): stable,
 * so a retried record lands on the same shard, and spread evenly over the shards.
 */
export function partitionKey(data: Uint8Array, key: string | undefined): string {
  if (key !== undefined && key !== "" && [...key].length <= MAX_KEY_CHARS) return key;
  return createHash("md5")
    .update(key !== undefined && key !== "" ? Buffer.from(key) : data)
    .digest("hex");
}

export function toEntries(messages: ReadonlyArray<{ data: Uint8Array; key?: string }>): PutEntry[] {
  return messages.map((message, i) => {
    const entry = { Data: message.data, PartitionKey: partitionKey(message.data, message.key) };
    const size = entrySize(entry);
    if (size > MAX_RECORD_BYTES) {
      throw new Error(
        `message ${i} is ${size} bytes with its partition key: Kinesis takes at most ${MAX_RECORD_BYTES} per record`,
      );
    }
    return entry;
  });
}

export function entrySize(entry: PutEntry): number {
  return entry.Data.byteLength + Buffer.byteLength(entry.PartitionKey);
}

/** Consecutive chunks of at most 500 entries and 5 MiB each, in the original order. */
export function chunkEntries(entries: readonly PutEntry[]): PutEntry[][] {
  const chunks: PutEntry[][] = [];
  let current: PutEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    if (current.length === MAX_RECORDS_PER_PUT || bytes + size > MAX_BYTES_PER_PUT) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
