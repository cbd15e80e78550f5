/** SHA-256 and byte counting while data streams through, so big files never sit in memory. */
import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";

import { openRegularFile } from "./safe-files.js";
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

/**
 * The digest of a local file, read in chunks. `realPath` has no link in it (see realpath);
 * the file must be a regular one, and with `expected` the very file stat saw (UnsafeFile
 * otherwise), so a FIFO swapped in meanwhile is refused instead of hanging the read.
 */
export async function hashFile(
  realPath: string,
  expected?: Pick<Stats, "dev" | "ino">,
): Promise<FileDigest> {
  const { handle } = await openRegularFile(realPath, expected);
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of handle.createReadStream()) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    hash.update(bytes);
  }
  return { sha256: hash.digest("hex"), size };
}
