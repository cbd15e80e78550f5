/** SHA-256 and byte counting while data streams through, so big files never sit in memory. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";

import type { FileDigest } from "./types.js";

/**
 * A pass-through that hashes and counts. With `maxBytes`, it fails as soon as more bytes
 * arrive than expected, so a wrong (or hostile) object cannot fill the disk before the check.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash("sha256");
  private bytes = 0;

  constructor(private readonly limit?: { maxBytes: number; error: () => Error }) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit && this.bytes > this.limit.maxBytes) {
      done(this.limit.error());
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** Call once, after the stream has ended. */
  digest(): FileDigest {
    return { sha256: this.hash.digest("hex"), size: this.bytes };
  }
}

/** The digest of a local file, read in chunks. */
export async function hashFile(filePath: string): Promise<FileDigest> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(filePath)) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    hash.update(bytes);
  }
  return { sha256: hash.digest("hex"), size };
}
