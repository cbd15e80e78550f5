/** Local-disk helpers shared by the stores and the cache: walking a tree, checking a manifest. */
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";

import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { hashFile } from "./hashing.js";
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, parseManifest } from "./manifest.js";
import type { ArtifactManifest } from "./types.js";
import { localPathUnder } from "./uri.js";

export interface LocalFile {
  /** Relative to the walked root, `/`-separated. */
  path: string;
  absolutePath: string;
  size: number;
}

/**
 * Every regular file under `root`, sorted by relative path. Symbolic links to files are
 * followed (model directories are often assembled from links); links to directories are
 * refused rather than followed, since they can loop or pull in far more than intended.
 */
export async function walkFiles(root: string): Promise<LocalFile[]> {
  const found: LocalFile[] = [];
  const visit = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const absolutePath = path.join(dir, entry.name);
      const relative = prefix + entry.name;
      if (entry.isDirectory()) {
        await visit(absolutePath, relative + "/");
        continue;
      }
      const info = await stat(absolutePath);
      if (info.isFile()) {
        found.push({ path: relative, absolutePath, size: info.size });
      } else if (info.isDirectory()) {
        throw new UserError(`${absolutePath} is a symbolic link to a directory; copy it instead`);
      } else {
        throw new UserError(`${absolutePath} is not a regular file (socket, FIFO or device)`);
      }
    }
  };
  await visit(root, "");
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function corrupt(message: string, cause?: unknown): RegistryError {
  return new RegistryError("ARTIFACT_CORRUPT", message, { cause });
}

/** The manifest of a downloaded (or locally stored) directory; ARTIFACT_CORRUPT if absent/bad. */
export async function readLocalManifest(dir: string): Promise<ArtifactManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const info = await stat(file);
    if (info.size > MAX_MANIFEST_BYTES) throw corrupt(`manifest ${file} is too large`);
    text = await readFile(file, "utf8");
  } catch (error) {
    if (["ENOENT", "ENOTDIR"].includes(errnoCode(error) ?? "")) {
      throw corrupt(`${dir} has no ${MANIFEST_FILE}`, error);
    }
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
  for (const [key, expected] of Object.entries(manifest.files)) {
    const file = localPathUnder(dir, key);
    const where = `artifact file ${JSON.stringify(key)} in ${dir}`;
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) throw corrupt(`${where} is not a regular file`);
      size = info.size;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw corrupt(`${where} is missing`, error);
      throw error;
    }
    if (size !== expected.size) {
      throw corrupt(`${where} is ${size} bytes, the manifest says ${expected.size}`);
    }
    if (options.hashes) {
      const actual = await hashFile(file);
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
