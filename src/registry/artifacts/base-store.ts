/**
 * What both stores share: directories, manifests and verification, written once on top of a
 * few object primitives (open for reading, write from a stream, small reads/writes, delete).
 * Keeping the checks here means local and S3 cannot drift apart in what they accept.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, type Stats } from "node:fs";
import { mkdir, realpath, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { DigestStream } from "./hashing.js";
import { mapLimit } from "./limit.js";
import { errnoCode, walkFiles, writeAtomically } from "./local-files.js";
import {
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  buildManifest,
  parseManifest,
  serializeManifest,
} from "./manifest.js";
import { UnsafeFile, mkdirWithin, openRegularFile } from "./safe-files.js";
import type { ArtifactEntry, ArtifactManifest, ArtifactStore, FileDigest } from "./types.js";
import { checkRelativeKey, joinArtifactUri, localPathUnder } from "./uri.js";

/** Files transferred at once: enough to hide per-request latency, few enough for small hosts. */
export const DEFAULT_CONCURRENCY = 4;

function corrupt(message: string, cause?: unknown): RegistryError {
  return new RegistryError("ARTIFACT_CORRUPT", message, { cause });
}

export abstract class ObjectArtifactStore implements ArtifactStore {
  abstract readonly kind: "local" | "s3";
  protected readonly concurrency: number;

  constructor(options: { concurrency?: number } = {}) {
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  }

  /*
   * `root`, when given, is the directory (or prefix) `uri` belongs to: a local store refuses
   * to read or write through a link that leads out of it (S3 has no links).
   */

  /**
   * The stored object as a stream; RegistryError NOT_FOUND when there is none,
   * ARTIFACT_CORRUPT when it is no regular file (a FIFO, a device) or leads out of `root`.
   */
  protected abstract openRead(uri: string, root?: string): Promise<Readable>;
  /** Stores exactly `size` bytes from `body` at `uri`, replacing any previous object. */
  protected abstract writeFrom(
    uri: string,
    body: Readable,
    size: number,
    root?: string,
  ): Promise<void>;
  /** A whole small object, or null when absent; ARTIFACT_CORRUPT when over `maxBytes` read. */
  protected abstract readSmall(
    uri: string,
    maxBytes: number,
    root?: string,
  ): Promise<Buffer | null>;
  protected abstract writeSmall(uri: string, bytes: Buffer, root?: string): Promise<void>;
  /** Deletes one object; absent is fine. */
  protected abstract remove(uri: string): Promise<void>;
  abstract list(prefixUri: string): Promise<ArtifactEntry[]>;
  abstract exists(uri: string): Promise<boolean>;

  /**
   * The file named is taken even through a link (the caller chose it), but only a regular
   * file: a FIFO or a device is refused at once, without blocking on it.
   */
  async uploadFile(localPath: string, destUri: string): Promise<FileDigest> {
    let real: string;
    try {
      real = await realpath(localPath);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw new UserError(`${localPath} does not exist`);
      throw error;
    }
    const { handle, info } = await openLocal(localPath, real);
    return this.upload(handle, localPath, info.size, destUri);
  }

  readFile(uri: string, root: string): Promise<Readable> {
    return this.openRead(uri, root);
  }

  downloadFile(srcUri: string, localPath: string, expected?: FileDigest): Promise<FileDigest> {
    return this.download(srcUri, localPath, expected, { label: srcUri });
  }

  async uploadDirectory(localDir: string, destUri: string): Promise<ArtifactManifest> {
    const root = path.resolve(localDir);
    const info = await localStat(root);
    if (!info.isDirectory()) throw new UserError(`${root} is not a directory`);
    // A manifest already in the directory (it was downloaded) is rewritten, not uploaded.
    const files = (await walkFiles(root)).filter((file) => file.path !== MANIFEST_FILE);
    // Refuse unstorable names (e.g. a backslash) before anything is written.
    for (const file of files) checkRelativeKey(file.path);

    const manifestUri = joinArtifactUri(destUri, MANIFEST_FILE);
    await this.remove(manifestUri);
    const digests = await mapLimit(files, this.concurrency, async (file) => {
      const shown = path.join(root, ...file.path.split("/"));
      const { handle } = await openLocal(shown, file.absolutePath, file.identity);
      return this.upload(handle, shown, file.size, joinArtifactUri(destUri, file.path), destUri);
    });
    const manifest = buildManifest(files.map((file, i) => [file.path, digests[i]] as const));
    // Last: a manifest means "every file above is complete".
    await this.writeSmall(manifestUri, Buffer.from(serializeManifest(manifest)), destUri);
    return manifest;
  }

  async downloadDirectory(srcUri: string, localDir: string): Promise<ArtifactManifest> {
    const manifest = await this.readManifest(srcUri);
    const root = path.resolve(localDir);
    await mkdir(root, { recursive: true });
    // Links already in `localDir` are not written through out of it (see download).
    const realRoot = await realpath(root);
    await mapLimit(Object.entries(manifest.files), this.concurrency, async ([key, expected]) => {
      const label = `artifact file ${JSON.stringify(key)} in ${srcUri}`;
      try {
        await this.download(joinArtifactUri(srcUri, key), localPathUnder(root, key), expected, {
          label,
          srcRoot: srcUri,
          localRoot: { given: root, real: realRoot },
        });
      } catch (error) {
        if (error instanceof RegistryError && error.code === "NOT_FOUND") {
          throw corrupt(`${label} is missing (the manifest lists it)`, error);
        }
        throw error;
      }
    });
    // Last, as on upload, so the local copy is only vouched for once complete. Renamed into
    // place: a link planted under the manifest's name is replaced, not written through.
    await writeAtomically(path.join(root, MANIFEST_FILE), (partial) =>
      writeFile(partial, serializeManifest(manifest), { flag: "wx" }),
    );
    return manifest;
  }

  async readManifest(uri: string): Promise<ArtifactManifest> {
    const manifest = await this.findManifest(uri);
    if (manifest === null) {
      if (await this.exists(uri)) {
        throw corrupt(
          `${uri} has no ${MANIFEST_FILE}: its upload did not finish, or it was not uploaded by mldeploy`,
        );
      }
      throw new RegistryError("NOT_FOUND", `no artifacts at ${uri}`);
    }
    return manifest;
  }

  /** The manifest at `uri` (validated), or null when there is none, whatever else is there. */
  async findManifest(uri: string): Promise<ArtifactManifest | null> {
    const manifestUri = joinArtifactUri(uri, MANIFEST_FILE);
    const bytes = await this.readSmall(manifestUri, MAX_MANIFEST_BYTES, uri);
    return bytes === null ? null : parseManifest(bytes.toString("utf8"), manifestUri);
  }

  /**
   * Streams an open local file (`shown` in messages) of known size to the store, hashing the
   * bytes as they go out. A file that grows meanwhile is stopped at once, not read to its end.
   */
  private async upload(
    handle: FileHandle,
    shown: string,
    size: number,
    destUri: string,
    destRoot?: string,
  ): Promise<FileDigest> {
    const changed = () =>
      new UserError(`${shown} changed size while it was being uploaded; try again`);
    // autoClose: the handle is closed when the stream ends or is destroyed.
    const source = handle.createReadStream();
    const digest = new DigestStream({ maxBytes: size, error: changed });
    source.on("error", (error) => digest.destroy(error));
    source.pipe(digest);
    try {
      await this.writeFrom(destUri, digest, size, destRoot);
    } finally {
      source.destroy();
    }
    const written = digest.digest();
    if (written.size !== size) throw changed();
    return written;
  }

  /**
   * Streams an object into a temporary sibling of `localPath`, hashing on the way, and
   * renames it into place only if it matches `expected` (and passes `where.verify`): a bad or
   * partial download never appears under the real name.
   */
  protected async download(
    srcUri: string,
    localPath: string,
    expected: FileDigest | undefined,
    where: DownloadOptions,
  ): Promise<FileDigest> {
    const { label } = where;
    const target = path.resolve(localPath);
    if (where.localRoot === undefined) {
      await mkdir(path.dirname(target), { recursive: true });
    } else {
      // A plain mkdir -p would follow a link in the way and create directories where it leads.
      try {
        await mkdirWithin(where.localRoot.given, where.localRoot.real, path.dirname(target));
      } catch (error) {
        if (!(error instanceof UnsafeFile)) throw error;
        throw new UserError(`cannot download ${label} to ${target}: ${error.message}`);
      }
    }
    const source = await (where.open ? where.open() : this.openRead(srcUri, where.srcRoot));
    const limit =
      where.limit ??
      (expected && {
        maxBytes: expected.size,
        error: () => corrupt(`${label} is larger than the manifest's ${expected.size} bytes`),
      });
    const digest = new DigestStream(limit, { md5: where.verify !== undefined });
    const partial = `${target}.partial-${randomBytes(6).toString("hex")}`;
    try {
      await pipeline(source, digest, createWriteStream(partial, { flags: "wx" }));
      const actual = digest.digest();
      if (expected) checkDigest(actual, expected, label);
      where.verify?.(actual, digest.md5() ?? "");
      await rename(partial, target);
      return actual;
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }
}

/** Where a download comes from and goes to, and what else it must pass. */
export interface DownloadOptions {
  /** Names the object in messages. */
  label: string;
  /** The directory (or prefix) the object belongs to: see openRead. */
  srcRoot?: string;
  /** The directory being filled: no link in it is followed out of it. */
  localRoot?: { given: string; real: string };
  /** Opens the object instead of openRead (to look at the response before reading it). */
  open?: () => Promise<Readable>;
  /** At most this many bytes are written; more fail with `error`. Default: `expected.size`. */
  limit?: { maxBytes: number; error: () => Error };
  /** A further check of what arrived (its digest and MD5), before it gets its real name. */
  verify?: (received: FileDigest, md5: string) => void;
}

function checkDigest(actual: FileDigest, expected: FileDigest, label: string): void {
  if (actual.size !== expected.size) {
    throw corrupt(`${label} is ${actual.size} bytes, the manifest says ${expected.size}`);
  }
  if (actual.sha256 !== expected.sha256) {
    throw corrupt(`${label} has SHA-256 ${actual.sha256}, the manifest says ${expected.sha256}`);
  }
}

/**
 * Opens the local file `shown` (resolved to `real`) for an upload: a regular file, and with
 * `identity` the one seen when the directory was walked. UserError naming `shown` otherwise.
 */
async function openLocal(
  shown: string,
  real: string,
  identity?: Pick<Stats, "dev" | "ino">,
): Promise<{ handle: FileHandle; info: Stats }> {
  try {
    return await openRegularFile(real, identity);
  } catch (error) {
    if (error instanceof UnsafeFile) {
      const via = real === shown ? "" : ` (${real})`;
      throw new UserError(`cannot upload ${shown}${via}: it ${error.reason}`);
    }
    if (errnoCode(error) === "ENOENT") throw new UserError(`${shown} does not exist`);
    throw error;
  }
}

async function localStat(localPath: string): Promise<Stats> {
  try {
    return await stat(localPath);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new UserError(`${localPath} does not exist`);
    throw error;
  }
}
