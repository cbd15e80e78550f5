/**
 * Artifacts in a local directory (the default store). Writes go to a temporary sibling and
 * are renamed into place, so a reader never sees half a file under its real name.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { RegistryError } from "../errors.js";
import { ObjectArtifactStore } from "./base-store.js";
import { errnoCode, walkFiles } from "./local-files.js";
import type { ArtifactEntry } from "./types.js";
import { parseArtifactUri } from "./uri.js";

/** A path that is not there, or has a file where a directory should be. */
const isAbsent = (error: unknown) => ["ENOENT", "ENOTDIR"].includes(errnoCode(error) ?? "");

export class LocalArtifactStore extends ObjectArtifactStore {
  readonly kind = "local";

  protected async openRead(uri: string): Promise<Readable> {
    const file = this.pathOf(uri);
    let handle;
    try {
      handle = await open(file, "r");
    } catch (error) {
      if (isAbsent(error)) throw new RegistryError("NOT_FOUND", `no artifact file at ${file}`);
      throw error;
    }
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw new RegistryError("NOT_FOUND", `${file} is not a file`);
    }
    return handle.createReadStream();
  }

  protected async writeFrom(uri: string, body: Readable, _size: number): Promise<void> {
    await writeAtomically(this.pathOf(uri), (partial) =>
      pipeline(body, createWriteStream(partial, { flags: "wx" })),
    );
  }

  protected async readSmall(uri: string, maxBytes: number): Promise<Buffer | null> {
    const file = this.pathOf(uri);
    try {
      if ((await stat(file)).size > maxBytes) {
        throw new RegistryError("ARTIFACT_CORRUPT", `${file} is larger than ${maxBytes} bytes`);
      }
      return await readFile(file);
    } catch (error) {
      if (isAbsent(error)) return null;
      throw error;
    }
  }

  protected async writeSmall(uri: string, bytes: Buffer): Promise<void> {
    await writeAtomically(this.pathOf(uri), (partial) => writeFile(partial, bytes, { flag: "wx" }));
  }

  protected async remove(uri: string): Promise<void> {
    await rm(this.pathOf(uri), { force: true });
  }

  async list(prefixUri: string): Promise<ArtifactEntry[]> {
    try {
      const files = await walkFiles(this.pathOf(prefixUri));
      return files.map((file) => ({ path: file.path, size: file.size }));
    } catch (error) {
      if (isAbsent(error)) return [];
      throw error;
    }
  }

  async exists(uri: string): Promise<boolean> {
    const target = this.pathOf(uri);
    try {
      const info = await stat(target);
      // Same meaning as an S3 prefix: a directory "exists" once something is in it.
      return info.isDirectory() ? (await readdir(target)).length > 0 : true;
    } catch (error) {
      if (isAbsent(error)) return false;
      throw error;
    }
  }

  private pathOf(uri: string): string {
    const location = parseArtifactUri(uri);
    if (location.kind !== "local") {
      throw new RegistryError("INVALID_VALUE", `${uri} is not a local path (local artifact store)`);
    }
    return location.path;
  }
}

/** Runs `write` on a temporary sibling of `file`, then renames it over `file`. */
async function writeAtomically(file: string, write: (partial: string) => Promise<void>) {
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
