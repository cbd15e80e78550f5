import { accessSync, constants, existsSync } from "node:fs";
import path from "node:path";
import { StorageError } from "../config/errors.js";

/**
 * Sink writes that the machine refuses (a full disk, a read-only mount) are told apart from
 * bugs and from user mistakes, and named: which file or directory, and why. The cause comes
 * from the error's code (Node's errno, SQLite's result code) or, for DuckDB, which only gives
 * text, from the OS message it quotes.
 */

const CAUSES: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EIO: "input/output error",
};

/** DuckDB's IO errors quote strerror(). */
const MESSAGES: Array<[RegExp, string]> = [
  [/no space left on device/i, "ENOSPC"],
  [/disk quota exceeded/i, "EDQUOT"],
  [/read-only file system/i, "EROFS"],
  [/permission denied/i, "EACCES"],
  [/input\/output error/i, "EIO"],
];

/** SQLite result codes (extended codes start with the primary one). */
const SQLITE_CODES: Array<[string, string]> = [
  ["SQLITE_FULL", "ENOSPC"],
  ["SQLITE_READONLY", "EROFS"],
  ["SQLITE_IOERR", "EIO"],
  ["SQLITE_PERM", "EACCES"],
];

/**
 * Why writing at `file` failed, as an errno code, when the machine refused it. `ENOENT` and
 * SQLite's "unable to open" say too little: a directory that cannot be created on a read-only
 * mount fails with ENOENT, so the nearest existing directory is asked whether it is writable.
 */
export function storageCause(error: unknown, file?: string): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") {
    if (CAUSES[code] !== undefined) return code;
    const sqlite = SQLITE_CODES.find(([prefix]) => code.startsWith(prefix));
    // A read-only database file or mount: which of the two, when the file can tell.
    if (sqlite)
      return (
        (sqlite[1] === "EROFS" && file !== undefined ? unwritable(file) : undefined) ?? sqlite[1]
      );
    if (file !== undefined && (code === "ENOENT" || code.startsWith("SQLITE_CANTOPEN")))
      return unwritable(file);
  }
  const message = error instanceof Error ? error.message : String(error);
  return MESSAGES.find(([pattern]) => pattern.test(message))?.[1];
}

/** EROFS or EACCES when `file`, or else the nearest existing directory above it, is not writable. */
function unwritable(file: string): string | undefined {
  let dir = path.resolve(file);
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && CAUSES[code] !== undefined ? code : undefined;
  }
}

/**
 * A StorageError naming the place and the cause when the machine refused the operation, else
 * the error as it was. `where` is the sink's (or source's) description; `file`, when given, the
 * file or directory being written.
 */
export function storageError(error: unknown, where: string, file?: string): unknown {
  if (error instanceof StorageError) return error;
  const code = storageCause(error, file);
  if (code === undefined) return error;
  const what = file === undefined ? "" : ` cannot write ${file}:`;
  return new StorageError(`${where}:${what} ${CAUSES[code]} (${code})`, { cause: error });
}
