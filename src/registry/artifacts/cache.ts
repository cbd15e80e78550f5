/**
 * A local cache of model directories fetched from artifact stores, so a serve process
 * downloads a model once and restarts start from disk.
 *
 * Layout under the cache directory:
 *   <entry>                        symlink → .entries/<entry>-XXXXXX, the current copy
 *   .entries/<entry>-XXXXXX/       downloads (complete ones, and any a crash abandoned)
 *
 * A download goes into a fresh directory under .entries and is only linked as <entry> once
 * complete and verified, so a crash never leaves half a model under the real name. Why a
 * symlink rather than renaming the download to <entry>: rename(2) can only move a directory
 * onto an empty or absent name, so replacing a corrupt copy would mean deleting a directory
 * that another process may have just installed and be reading. A new symlink renamed over
 * the old one replaces it atomically, and only the copy we ourselves found corrupt is deleted.
 * Entry names never start with ".", so they cannot collide with .entries or .swap-* names.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  access,
  lstat,
  mkdir,
  mkdtemp,
  realpath,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import path from "node:path";

import { RegistryError } from "../errors.js";
import { errnoCode, verifyLocalDirectory } from "./local-files.js";
import { MANIFEST_FILE } from "./manifest.js";
import type { ListedModel } from "./listing.js";
import { artifactStoreFor, type ArtifactStoreOptions } from "./open.js";
import { S3ArtifactStore } from "./s3-store.js";
import { parseArtifactUri } from "./uri.js";

export interface ModelCacheOptions {
  /** Cache directory. Default `<dataDir>/cache/models`. */
  dir?: string;
  /** Default "./mldeploy-data". */
  dataDir?: string;
  /**
   * Re-hash every file of a cached copy before reusing it. Default false: a cached copy is
   * trusted when its manifest is there and every file has the listed size (one stat each),
   * which catches truncation and missing files; downloads are always fully verified.
   */
  verifyHashes?: boolean;
  /** How to reach the stores (S3 endpoint, region …). */
  store?: ArtifactStoreOptions;
}

type Inspection =
  | { state: "valid"; path: string }
  /** `path` is null for a dangling link. */
  | { state: "invalid"; path: string | null }
  | { state: "absent" };

const ENTRIES = ".entries";

export class ModelCache {
  readonly dir: string;
  private readonly verifyHashes: boolean;
  private readonly storeOptions: ArtifactStoreOptions;
  /** One download per entry at a time within this process. */
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(options: ModelCacheOptions = {}) {
    const dataDir = options.dataDir ?? "./mldeploy-data";
    this.dir = path.resolve(options.dir ?? path.join(dataDir, "cache", "models"));
    this.verifyHashes = options.verifyHashes ?? false;
    this.storeOptions = options.store ?? {};
  }

  /**
   * A local directory holding the model at `sourceUri`. `cacheKey` must name immutable
   * content (a model name and version, a run id): a valid cached copy under that key is
   * returned without contacting the store. The path returned is the copy itself
   * (`.entries/…`), not the link, so it stays valid even if the link is later swapped.
   *
   * Local sources (a path or file:// URI of a directory) are returned as they are, not
   * copied: they are already on this disk, and models can be large. If such a directory has
   * a manifest it is checked like a cached copy (ARTIFACT_CORRUPT when it fails).
   *
   * An S3 source without a manifest (a model written by MLflow, or copied by hand) is listed
   * each time instead (see listing.ts): `cacheKey` alone cannot name its content, since such a
   * prefix can be written over, so its copy is kept under `cacheKey` + the listing's digest
   * (keys, sizes, ETags): unchanged → the copy on disk, no object downloaded; changed → a new
   * download. It must be a model directory (MLmodel at its root), or `sourceUri` names one
   * object (`s3://bucket/models/model.pkl`): then the path returned is that file in the copy.
   */
  fetch(
    sourceUri: string,
    cacheKey: string,
    options: { verifyHashes?: boolean } = {},
  ): Promise<string> {
    const hashes = options.verifyHashes ?? this.verifyHashes;
    const location = parseArtifactUri(sourceUri);
    if (location.kind === "local") return localSource(location.path, hashes);
    const name = cacheEntryName(cacheKey);
    const running = this.inflight.get(name);
    if (running) return running;
    const fetching = this.fetchRemote(sourceUri, cacheKey, name, hashes).finally(() =>
      this.inflight.delete(name),
    );
    this.inflight.set(name, fetching);
    return fetching;
  }

  private async fetchRemote(
    sourceUri: string,
    cacheKey: string,
    name: string,
    hashes: boolean,
  ): Promise<string> {
    const link = path.join(this.dir, name);
    const entries = await this.entriesDir();
    const current = await inspect(link, entries, hashes);
    if (current.state === "valid") return current.path;

    const store = artifactStoreFor(sourceUri, this.storeOptions);
    if (store instanceof S3ArtifactStore && (await store.findManifest(sourceUri)) === null) {
      const listing = await store.listModel(sourceUri);
      // Unless an mldeploy upload finished in between: then its manifest is the better check.
      if (!listing.objects.some((object) => object.path === MANIFEST_FILE)) {
        return this.fetchListed(store, listing, cacheKey, entries, hashes);
      }
    }
    const fresh = await this.download(name, entries, (dir) =>
      store.downloadDirectory(sourceUri, dir),
    );
    return this.install(link, fresh, entries, hashes);
  }

  /** A listed S3 model (no manifest), kept under its key and the listing's digest. */
  private async fetchListed(
    store: S3ArtifactStore,
    listing: ListedModel,
    cacheKey: string,
    entries: string,
    hashes: boolean,
  ): Promise<string> {
    const name = cacheEntryName(`${cacheKey}\nlisting:${listing.digest}`);
    const link = path.join(this.dir, name);
    const current = await inspect(link, entries, hashes);
    const copy =
      current.state === "valid"
        ? current.path
        : await this.install(
            link,
            await this.download(name, entries, (dir) => store.downloadListed(listing, dir)),
            entries,
            hashes,
          );
    return listing.kind === "object" ? path.join(copy, listing.objects[0].path) : copy;
  }

  /** A fresh directory under `entries` filled by `fill`; removed again if that fails. */
  private async download(
    name: string,
    entries: string,
    fill: (dir: string) => Promise<unknown>,
  ): Promise<string> {
    const fresh = await mkdtemp(path.join(entries, `${name}-`));
    try {
      await fill(fresh);
    } catch (error) {
      await rm(fresh, { recursive: true, force: true });
      throw error;
    }
    return fresh;
  }

  /**
   * The real path of `.entries`, created if needed. It must be a directory of its own: were
   * it a link, downloads would be written wherever it leads.
   */
  private async entriesDir(): Promise<string> {
    const entries = path.join(this.dir, ENTRIES);
    await mkdir(entries, { recursive: true });
    if ((await lstat(entries)).isSymbolicLink()) {
      throw new RegistryError(
        "INVALID_VALUE",
        `${entries} is a symbolic link; the model cache keeps its downloads in a directory ` +
          "of its own (remove the link, or choose another cache directory)",
      );
    }
    return realpath(entries);
  }

  /** Links the verified download `fresh` as `link`, or adopts a valid copy someone else linked. */
  private async install(
    link: string,
    fresh: string,
    entries: string,
    hashes: boolean,
  ): Promise<string> {
    const target = linkTarget(this.dir, fresh);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await symlink(target, link, "junction");
        return await realpath(fresh);
      } catch (error) {
        if (errnoCode(error) !== "EEXIST") throw error;
      }
      const current = await inspect(link, entries, hashes);
      if (current.state === "valid") {
        // Another process (or an earlier fetch) finished first: use its copy, drop ours.
        await rm(fresh, { recursive: true, force: true });
        return current.path;
      }
      if (current.state === "absent") continue;
      const linkInfo = await lstat(link).catch(() => null);
      if (linkInfo === null) continue;
      if (!linkInfo.isSymbolicLink()) {
        // A plain directory under the entry name (made by hand): nothing links to it.
        await rm(link, { recursive: true, force: true });
        continue;
      }
      const swap = path.join(this.dir, `.swap-${randomBytes(6).toString("hex")}`);
      await symlink(target, swap, "junction");
      try {
        await rename(swap, link);
      } catch (error) {
        await rm(swap, { force: true });
        throw error;
      }
      if (current.path !== null && path.dirname(current.path) === entries) {
        await rm(current.path, { recursive: true, force: true });
      }
      return await realpath(fresh);
    }
    throw new Error(`could not install the cache entry ${link}: it kept changing`);
  }
}

/**
 * A directory name for a cache key: readable characters kept, everything else replaced, and
 * a hash of the whole key appended so distinct keys never share a name ("a/b" vs "a_b").
 */
export function cacheEntryName(cacheKey: string): string {
  if (cacheKey === "") throw new RegistryError("INVALID_VALUE", "cache key is empty");
  const readable =
    cacheKey
      .replace(/[^A-Za-z0-9._-]+/g, "_")
      .replace(/^[._-]+/, "")
      .slice(0, 80) || "model";
  const hash = createHash("sha256").update(cacheKey).digest("hex").slice(0, 16);
  return `${readable}-${hash}`;
}

/**
 * What the entry `link` holds. A link is only followed to a copy directly in `entries` (the
 * real .entries directory): one leading anywhere else (put there by hand, or by someone
 * else) is treated as invalid and replaced, and what it leads to is neither read nor deleted.
 */
async function inspect(link: string, entries: string, hashes: boolean): Promise<Inspection> {
  let real: string;
  try {
    real = await realpath(link);
  } catch (error) {
    if (!["ENOENT", "ELOOP"].includes(errnoCode(error) ?? "")) throw error;
    // A dangling link (its copy was deleted) is in the way but worthless.
    const dangling = await lstat(link).then(
      () => true,
      () => false,
    );
    return dangling ? { state: "invalid", path: null } : { state: "absent" };
  }
  if (path.dirname(real) !== entries) return { state: "invalid", path: null };
  try {
    await verifyLocalDirectory(real, { hashes });
    return { state: "valid", path: real };
  } catch (error) {
    if (error instanceof RegistryError && error.code === "ARTIFACT_CORRUPT") {
      return { state: "invalid", path: real };
    }
    throw error;
  }
}

async function localSource(dir: string, hashes: boolean): Promise<string> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    if (errnoCode(error) === "ENOENT") {
      throw new RegistryError("NOT_FOUND", `model directory ${dir} does not exist`);
    }
    throw error;
  }
  if (!isDirectory) {
    throw new RegistryError("INVALID_VALUE", `${dir} is a file, not a model directory`);
  }
  const hasManifest = await access(path.join(dir, MANIFEST_FILE)).then(
    () => true,
    () => false,
  );
  if (hasManifest) await verifyLocalDirectory(dir, { hashes });
  return dir;
}

/**
 * Relative on POSIX so the cache directory can be moved or mounted elsewhere; absolute on
 * Windows, where directory links are junctions and junction targets must be absolute.
 */
function linkTarget(cacheDir: string, entry: string): string {
  return process.platform === "win32" ? entry : path.relative(cacheDir, entry);
}
