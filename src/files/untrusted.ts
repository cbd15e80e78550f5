import { constants, type Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

/**
 * The pieces every reader of untrusted local files shares (a model bundle, a directory being
 * uploaded, a local artifact store, the model cache): such files may be links to anywhere,
 * FIFOs that block an open() forever, or devices that never end.
 */

/**
 * O_NOFOLLOW: a path already resolved by realpath has no link left, so a link found there now
 * was put there since, and is refused. O_NONBLOCK: opening a FIFO returns at once (to be
 * refused by its type) instead of waiting for a writer forever; regular files ignore it.
 */
export const UNTRUSTED_READ_FLAGS =
  constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** Whether `file` is `root` itself or below it (both absolute, already resolved). */
export function isWithin(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return (
    relative === "" ||
    (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
  );
}

/** "a FIFO (named pipe)", "a character device" … for messages. */
export function describeFileType(info: Stats): string {
  if (info.isFile()) return "a regular file";
  if (info.isDirectory()) return "a directory";
  if (info.isSymbolicLink()) return "a symbolic link";
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * The content of an open file, or undefined when it holds more than `maxBytes`. The bytes
 * actually read are counted (up to maxBytes + 1), not the size stat reported: the file may
 * grow while it is read, and a device reports 0.
 */
export async function readUpTo(handle: FileHandle, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (total > maxBytes) return undefined;
  }
  return Buffer.concat(chunks, total);
}
