/** Local-disk helpers shared by the stores and the cache: walking a tree, checking a manifest. */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { lstat, mkdir, readdir, realpath, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

import { UserError } from "../../config/errors.js";
import { describeFileType, isWithin } from "../../files/untrusted.js";
import { RegistryError } from "../errors.js";
import { hashFile } from "./hashing.js";
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, parseManifest } from "./manifest.js";
import { UnsafeFile, openRegularFile, readAtMost, realPathWithin } from "./safe-files.js";
import type { ArtifactManifest } from "./types.js";
import { localPathUnder } from "./uri.js";

export interface LocalFile {
  /** Relative to the walked root, `/`-separated. */
  path: string;
  /** Where the bytes are: the file's real path (links resolved), inside the root. */
  absolutePath: string;
  size: number;
  /** Device and inode when walked: the upload reads that very file or refuses. */
  identity: Pick<Stats, "dev" | "ino">;
}

/**
 * Every regular file under `root`, sorted by relative path. Symbolic links to files inside
 * `root` are followed (model directories are often assembled from links); a link that
 * resolves outside `root` is refused, so an upload never carries /etc/passwd along. Links to
 * directories are refused rather than followed, since they can loop or pull in far more than
 * intended, and so are FIFOs, sockets and devices, which could block or never end.
 */
export async function walkFiles(root: string): Promise<LocalFile[]> {
  const realRoot = await realpath(root);
  const found: LocalFile[] = [];
  const visit = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const relative = prefix + entry.name;
      // Named as the caller named the root, which is what the user will recognise.
      const shown = path.join(root, ...relative.split("/"));
      const absolutePath = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await visit(absolutePath, relative + "/");
        continue;
      }
      let real = absolutePath;
      let info: Stats;
      if (entry.isSymbolicLink()) {
        try {
          real = await realpath(absolutePath);
        } catch (error) {
          if (errnoCode(error) === "ENOENT") {
            throw new UserError(`${shown} is a symbolic link to nothing (its target is missing)`);
          }
          if (errnoCode(error) === "ELOOP") {
            throw new UserError(`${shown} is a symbolic link that loops`);
          }
          throw error;
        }
        if (!isWithin(realRoot, real)) {
          throw new UserError(
            `${shown} is a symbolic link to ${real}, outside ${root}; only links to files ` +
              "inside the directory are allowed (copy the file in instead)",
          );
        }
        // `real` has no link left, so stat() here never follows anything.
        info = await stat(real);
      } else {
        info = await lstat(absolutePath);
      }
      if (info.isFile()) {
        found.push({ path: relative, absolutePath: real, size: info.size, identity: info });
      } else if (info.isDirectory()) {
        throw new UserError(`${shown} is a symbolic link to a directory; copy it instead`);
      } else {
        throw new UserError(`${shown} is ${describeFileType(info)}, not a regular file`);
      }
    }
  };
  await visit(realRoot, "");
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function corrupt(message: string, cause?: unknown): RegistryError {
  return new RegistryError("ARTIFACT_CORRUPT", message, { cause });
}

/**
 * The manifest of a downloaded (or locally stored) directory; ARTIFACT_CORRUPT if absent or
 * bad, a link out of `dir`, not a regular file, or over MAX_MANIFEST_BYTES (counted as read).
 */
export async function readLocalManifest(dir: string): Promise<ArtifactManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const real = await realPathWithin(await realpath(dir), file);
    const { handle } = await openRegularFile(real);
    try {
      text = (await readAtMost(handle, file, MAX_MANIFEST_BYTES)).toString("utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (["ENOENT", "ENOTDIR"].includes(errnoCode(error) ?? "")) {
      throw corrupt(`${dir} has no ${MANIFEST_FILE}`, error);
    }
    if (error instanceof UnsafeFile) throw corrupt(`manifest ${file} ${error.reason}`, error);
    throw error;
  }
  return parseManifest(text, file);
}

/**
 * Checks `dir` against its own manifest: every listed file present with the right size
 * (cheap: one stat each) and, with `hashes`, the right SHA-256 (reads every byte).
 */
export async function verifyLocalDirectory(
  dir: string,
  options: { hashes: boolean },
): Promise<ArtifactManifest> {
  const manifest = await readLocalManifest(dir);
  const realDir = await realpath(dir);
  for (const [key, expected] of Object.entries(manifest.files)) {
    const file = localPathUnder(dir, key);
    const where = `artifact file ${JSON.stringify(key)} in ${dir}`;
    let real: string;
    let info: Stats;
    try {
      real = await realPathWithin(realDir, file);
      // `real` has no link left: stat() looks at the file itself.
      info = await stat(real);
    } catch (error) {
      if (["ENOENT", "ENOTDIR"].includes(errnoCode(error) ?? "")) {
        throw corrupt(`${where} is missing`, error);
      }
      if (error instanceof UnsafeFile) throw corrupt(`${where} ${error.reason}`, error);
      throw error;
    }
    if (!info.isFile()) {
      throw corrupt(`${where} is ${describeFileType(info)}, not a regular file`);
    }
    const size = info.size;
    if (size !== expected.size) {
      throw corrupt(`${where} is ${size} bytes, the manifest says ${expected.size}`);
    }
    if (options.hashes) {
      let actual;
      try {
        actual = await hashFile(real, info);
      } catch (error) {
        if (error instanceof UnsafeFile) throw corrupt(`${where} ${error.reason}`, error);
        throw error;
      }
      if (actual.sha256 !== expected.sha256) {
        throw corrupt(
          `${where} has SHA-256 ${actual.sha256}, the manifest says ${expected.sha256}`,
        );
      }
    }
  }
  return manifest;
}

/** `error.code` of a Node system error, if any. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * Runs `write` on a temporary sibling of `file` (created exclusively, so never through a
 * link), then renames it over `file`: a reader never sees half a file, and a symbolic link
 * already at `file` is replaced, not written through.
 */
export async function writeAtomically(
  file: string,
  write: (partial: string) => Promise<void>,
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.partial-${randomBytes(6).toString("hex")}`;
  try {
    await write(partial);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
