/** SHA-256 and byte counting while data streams through, so big files never sit in memory. */
import { createHash, type Hash } from "node:crypto";
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
  /** Only when asked for: S3 ETags of single-part uploads are the MD5 of the content. */
  private readonly md5Hash: Hash | undefined;
  private bytes = 0;

  constructor(
    private readonly limit?: { maxBytes: number; error: () => Error },
    options: { md5?: boolean } = {},
  ) {
    super();
    this.md5Hash = options.md5 ? createHash("md5") : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit && this.bytes > this.limit.maxBytes) {
      done(this.limit.error());
      return;
    }
    this.hash.update(chunk);
    this.md5Hash?.update(chunk);
    done(null, chunk);
  }

  /** Call once, after the stream has ended. */
  digest(): FileDigest {
    return { sha256: this.hash.digest("hex"), size: this.bytes };
  }

  /** The MD5 (lowercase hex) when constructed with `md5: true`; call once, after the end. */
  md5(): string | undefined {
    return this.md5Hash?.digest("hex");
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
