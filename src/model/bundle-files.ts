import { lstat, open, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { describeFileType, isWithin, readUpTo, UNTRUSTED_READ_FLAGS } from "../files/untrusted.js";

/**
 * Reading a bundle's files without trusting them: a bundle may come from anyone (a registry
 * download, a colleague's directory), so a file is read only if it really lies inside the
 * bundle directory and is a regular file. Symbolic links are resolved first, so a link to
 * another file of the bundle is fine while a link to /etc/passwd or /dev/zero is refused, and
 * nothing is opened that could block (a FIFO) or never end (a device).
 */

/** A bundle file checked as above: its real path (no links left in it) and its size. */
export interface BundleFile {
  realPath: string;
  size: number;
}

/** Why a bundle file cannot be used; the message reads after the file's name. */
export class UnsafeBundleFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeBundleFile";
  }
}

/** The real path of the bundle directory, against which its files are checked. */
export async function bundleRoot(dir: string): Promise<string> {
  return realpath(dir);
}

/**
 * Resolves `relative` inside the bundle whose real directory is `root`: undefined when nothing
 * is there, an UnsafeBundleFile when it resolves outside `root` or is no regular file.
 */
export async function resolveBundleFile(
  root: string,
  relative: string,
): Promise<BundleFile | undefined> {
  const candidate = path.resolve(root, relative);
  if (!isInside(root, candidate)) throw new UnsafeBundleFile("points outside the bundle");
  const link = await lstat(candidate).catch((error: unknown) => {
    if (isAbsent(error)) return undefined;
    throw new UnsafeBundleFile(`cannot be read: ${describeError(error)}`);
  });
  if (!link) return undefined;
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (error) {
    if (isAbsent(error)) throw new UnsafeBundleFile("is a symbolic link to nothing");
    throw new UnsafeBundleFile(`cannot be resolved: ${describeError(error)}`);
  }
  if (!isInside(root, real)) {
    throw new UnsafeBundleFile(
      `resolves to ${real}, outside the bundle (a symbolic link must point inside the bundle directory)`,
    );
  }
  // `real` has no link left, so stat() is lstat() here: it never touches what a link names.
  const info = await stat(real);
  if (!info.isFile())
    throw new UnsafeBundleFile(`is ${describeFileType(info)}, not a regular file`);
  return { realPath: real, size: info.size };
}

/**
 * Reads a file resolved by resolveBundleFile (its real path), at most `maxBytes` of it. It is opened without
 * following a link and without blocking, and checked again once open: the file may have been
 * replaced (by a FIFO, a link) since it was resolved.
 */
export async function readBundleFile(realPath: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(realPath, UNTRUSTED_READ_FLAGS);
  } catch (error) {
    throw new UnsafeBundleFile(`cannot be opened: ${describeError(error)}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new UnsafeBundleFile(`is ${describeFileType(info)}, not a regular file`);
    if (info.size > maxBytes) throw tooLarge(info.size, maxBytes);
    // Read to the end but never past the cap: the file may grow while it is read.
    const content = await readUpTo(handle, maxBytes);
    if (content === undefined) throw tooLarge(undefined, maxBytes);
    return content;
  } finally {
    await handle.close();
  }
}

function tooLarge(size: number | undefined, maxBytes: number): UnsafeBundleFile {
  const limit = `${formatBytes(maxBytes)}, the most mldeploy reads of it`;
  return new UnsafeBundleFile(
    size === undefined ? `is larger than ${limit}` : `is ${size} bytes, larger than ${limit}`,
  );
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** Strictly below the bundle root: the root itself is no bundle file. */
function isInside(root: string, file: string): boolean {
  return file !== root && isWithin(root, file);
}

function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function describeError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === "ELOOP") return "too many levels of symbolic links";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return code ?? message;
}
