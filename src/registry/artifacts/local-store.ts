/**
 * Artifacts in a local directory (the default store). Writes go to a temporary sibling and
 * are renamed into place, so a reader never sees half a file under its real name.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, realpath, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { RegistryError } from "../errors.js";
import { ObjectArtifactStore } from "./base-store.js";
import { errnoCode, walkFiles, writeAtomically } from "./local-files.js";
import {
  UnsafeFile,
  mkdirWithin,
  openRegularFile,
  readAtMost,
  realPathWithin,
} from "./safe-files.js";
import type { ArtifactEntry } from "./types.js";
import { parseArtifactUri } from "./uri.js";

/** A path that is not there, or has a file where a directory should be. */
const isAbsent = (error: unknown) => ["ENOENT", "ENOTDIR"].includes(errnoCode(error) ?? "");

export class LocalArtifactStore extends ObjectArtifactStore {
  readonly kind = "local";

  /** Checks the file's type before reading a byte: a FIFO or device is refused, never opened blocking. */
  protected async openRead(uri: string, root?: string): Promise<Readable> {
    const file = this.pathOf(uri);
    let handle;
    try {
      ({ handle } = await openRegularFile(await this.resolve(file, root)));
    } catch (error) {
      if (isAbsent(error)) throw new RegistryError("NOT_FOUND", `no artifact file at ${file}`);
      if (error instanceof UnsafeFile && error.kind === "directory") {
        throw new RegistryError("NOT_FOUND", `${file} is not a file`);
      }
      throw this.unsafe(file, error);
    }
    return handle.createReadStream();
  }

  protected async writeFrom(
    uri: string,
    body: Readable,
    _size: number,
    root?: string,
  ): Promise<void> {
    const file = await this.writable(uri, root);
    await writeAtomically(file, (partial) =>
      pipeline(body, createWriteStream(partial, { flags: "wx" })),
    );
  }

  protected async readSmall(uri: string, maxBytes: number, root?: string): Promise<Buffer | null> {
    const file = this.pathOf(uri);
    try {
      const { handle } = await openRegularFile(await this.resolve(file, root));
      try {
        return await readAtMost(handle, file, maxBytes);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isAbsent(error)) return null;
      throw this.unsafe(file, error);
    }
  }

  protected async writeSmall(uri: string, bytes: Buffer, root?: string): Promise<void> {
    const file = await this.writable(uri, root);
    await writeAtomically(file, (partial) => writeFile(partial, bytes, { flag: "wx" }));
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

  /** The real path of `file`, which must lie inside `root` (a URI) when one is given. */
  private async resolve(file: string, root: string | undefined): Promise<string> {
    if (root === undefined) return realpath(file);
    return realPathWithin(await realpath(this.pathOf(root)), file);
  }

  /**
   * The path to write `uri` at, its directory created. With `root`, that directory must
   * still be inside `root` once links are resolved: a link to a directory planted in the
   * store is not written through. (The file itself is renamed into place, replacing any link.)
   */
  private async writable(uri: string, root: string | undefined): Promise<string> {
    const file = this.pathOf(uri);
    if (root === undefined) return file;
    const top = this.pathOf(root);
    await mkdir(top, { recursive: true });
    try {
      await mkdirWithin(top, await realpath(top), path.dirname(file));
    } catch (error) {
      if (!(error instanceof UnsafeFile)) throw error;
      throw new RegistryError("INVALID_VALUE", `cannot write ${file}: ${error.message}`);
    }
    return file;
  }

  /** A stored file that cannot be read safely is a broken artifact, named with the reason. */
  private unsafe(file: string, error: unknown): unknown {
    if (!(error instanceof UnsafeFile)) return error;
    return new RegistryError("ARTIFACT_CORRUPT", `artifact file ${file} ${error.reason}`, {
      cause: error,
    });
  }
}
