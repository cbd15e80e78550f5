/**
 * Opening local files without trusting what is on disk. A directory being uploaded, a local
 * store or a cached copy may hold links and special files placed by anyone: a file is read
 * only if it really lies inside the directory it belongs to and is a regular file. Links are
 * resolved first, so a link to another file of the directory is fine while one to
 * /etc/passwd or /dev/zero is refused, and nothing is opened that could block (a FIFO) or
 * never end (a device).
 * (src/model/bundle-files.ts applies the same rules to a bundle's MLmodel and model.onnx,
 * through the same pieces in src/files/untrusted.ts.)
 */
import type { Stats } from "node:fs";
import { lstat, mkdir, open, realpath, type FileHandle } from "node:fs/promises";
import path from "node:path";
import {
  describeFileType,
  isWithin,
  readUpTo,
  UNTRUSTED_READ_FLAGS,
} from "../../files/untrusted.js";

export type UnsafeKind =
  /** Resolves outside the directory it belongs to. */
  | "outside"
  /** A directory where a file was expected. */
  | "directory"
  /** A FIFO, socket or device, or a link where none may be. */
  | "special"
  | "too-large"
  /** Replaced or grown between its check and its read. */
  | "changed";

/** Why a local file is not read. `reason` reads after the file's name. */
export class UnsafeFile extends Error {
  constructor(
    readonly file: string,
    readonly kind: UnsafeKind,
    readonly reason: string,
  ) {
    super(`${file} ${reason}`);
    this.name = "UnsafeFile";
  }
}

/**
 * The real path of `file` (links resolved), which must lie within `realRoot` (a real path
 * itself). Errors of realpath (ENOENT for a missing file or a dangling link) pass through.
 */
export async function realPathWithin(realRoot: string, file: string): Promise<string> {
  const real = await realpath(file);
  if (!isWithin(realRoot, real)) {
    throw new UnsafeFile(
      file,
      "outside",
      `resolves to ${real}, outside ${realRoot} (a symbolic link must point inside the directory)`,
    );
  }
  return real;
}

/**
 * Creates `dir` (a path below `root`) like `mkdir -p`, one level at a time, checking each
 * existing level first: one that leads out of `realRoot` (the real path of `root`) through a
 * symbolic link is refused (UnsafeFile "outside") before anything is created beyond it. A
 * plain `mkdir -p` would follow such a link and create directories wherever it leads.
 */
export async function mkdirWithin(root: string, realRoot: string, dir: string): Promise<void> {
  const relative = path.relative(root, dir);
  if (relative === "") return;
  if (relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new UnsafeFile(dir, "outside", `is outside ${root}`);
  }
  let current = root;
  for (const segment of relative.split(path.sep)) {
    current = path.join(current, segment);
    const existing = await lstat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (existing === undefined) {
      await mkdir(current).catch((error: NodeJS.ErrnoException) => {
        // Made meanwhile (a parallel download): checked just below like any other.
        if (error.code !== "EEXIST") throw error;
      });
    }
    if (existing === undefined || existing.isSymbolicLink()) {
      const real = await realpath(current);
      if (!isWithin(realRoot, real)) {
        throw new UnsafeFile(
          current,
          "outside",
          `leads to ${real}, outside ${root} (a symbolic link in the way)`,
        );
      }
    }
  }
}

/**
 * Opens `realPath` (as returned by realpath) for reading, refusing anything but a regular
 * file without blocking. With `expected`, the file must still be the one seen by an earlier
 * stat (same device and inode), so what is read is what was checked. The caller closes it.
 */
export async function openRegularFile(
  realPath: string,
  expected?: Pick<Stats, "dev" | "ino">,
): Promise<{ handle: FileHandle; info: Stats }> {
  let handle: FileHandle;
  try {
    handle = await open(realPath, UNTRUSTED_READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ELOOP: a link where the resolved path had none; ENXIO: a socket (cannot be opened).
    if (code === "ELOOP") throw new UnsafeFile(realPath, "changed", "became a symbolic link");
    if (code === "ENXIO")
      throw new UnsafeFile(realPath, "special", "is a socket, not a regular file");
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      const kind = info.isDirectory() ? "directory" : "special";
      throw new UnsafeFile(realPath, kind, `is ${describeFileType(info)}, not a regular file`);
    }
    if (expected && (info.dev !== expected.dev || info.ino !== expected.ino)) {
      throw new UnsafeFile(realPath, "changed", "was replaced while it was being read; try again");
    }
    return { handle, info };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The whole content of an open file, refused with UnsafeFile "too-large" beyond `maxBytes`.
 * The bytes actually read are counted (up to maxBytes + 1), not the size stat reported: the
 * file may grow while it is read.
 */
export async function readAtMost(
  handle: FileHandle,
  file: string,
  maxBytes: number,
): Promise<Buffer> {
  const tooLarge = () => new UnsafeFile(file, "too-large", `is larger than ${maxBytes} bytes`);
  if ((await handle.stat()).size > maxBytes) throw tooLarge();
  const content = await readUpTo(handle, maxBytes);
  if (content === undefined) throw tooLarge();
  return content;
}
