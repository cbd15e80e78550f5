/**
 * Models in S3 without an mldeploy manifest: a directory written by MLflow or copied by hand
 * (`aws s3 cp --recursive`), or one object (`s3://bucket/models/model.pkl`).
 *
 * Nothing vouches for such a prefix being complete, so what can be checked is checked from the
 * listing itself: every key is safe to write locally, the prefix looks like a model (an MLmodel
 * at its root), and the listing's digest (keys, sizes, ETags) names the content, so the cache
 * keeps one copy per state of the prefix. The download then checks each object against its
 * listed size and ETag, and the listing again once every object is in (see S3ArtifactStore).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml } from "yaml";

import { RegistryError } from "../errors.js";
import { checkNoFileDirectoryClash, MANIFEST_FILE } from "./manifest.js";
import type { ArtifactEntry } from "./types.js";
import { checkRelativeKey, joinArtifactUri, parseArtifactUri } from "./uri.js";

/** What a model directory must hold at its root (MLflow's MLMODEL_FILE_NAME). */
export const MLMODEL_FILE = "MLmodel";

/**
 * More objects than any model directory holds (an MLflow model has a handful); a prefix with
 * more is most likely a whole bucket or experiment named by mistake, and is not listed to its end.
 */
export const MAX_LISTED_OBJECTS = 10_000;

/** An MLmodel is a few kilobytes of YAML; a bigger one is not read for the size check. */
const MAX_MLMODEL_BYTES = 1024 * 1024;

/** An object under a prefix as S3 lists it. */
export interface ListedEntry extends ArtifactEntry {
  /** Without quotes; undefined when the server lists none. */
  etag?: string;
  /** When it was last written (ISO 8601). */
  modified?: string;
}

/** One listed object. */
export interface ListedObject {
  /** Where it goes in the local copy (relative, `/`-separated, checked). */
  path: string;
  /** Its own s3:// URI. */
  uri: string;
  size: number;
  /** Without quotes; undefined when the server lists none. */
  etag?: string;
  /** ISO 8601; only stands in for a missing ETag. */
  modified?: string;
}

/** An S3 model without a manifest, as listed. */
export interface ListedModel {
  /** The URI as given: a prefix, or one object. */
  uri: string;
  /** "prefix": the objects under `uri/`; "object": `uri` names one object. */
  kind: "prefix" | "object";
  /** Sorted by path. */
  objects: ListedObject[];
  /** SHA-256 (hex) of kind, paths, sizes and ETags: changes whenever the content does. */
  digest: string;
}

function corrupt(message: string): RegistryError {
  return new RegistryError("ARTIFACT_CORRUPT", message);
}

/**
 * The objects under the prefix `uri` (its listing `entries`, paths relative to it), refused if
 * a key could not be written safely under a local directory (absolute, `..`, empty segment,
 * backslash), or if there is no MLmodel at the root: nothing is downloaded in either case.
 */
export function listedPrefix(uri: string, entries: readonly ListedEntry[]): ListedModel {
  for (const entry of entries) {
    try {
      checkRelativeKey(entry.path);
    } catch {
      throw corrupt(
        `${uri} holds an object whose key ${JSON.stringify(keyOf(uri, entry.path))} is not a safe ` +
          'relative path (absolute, ".." or empty segment, backslash or NUL): refused, nothing downloaded',
      );
    }
  }
  checkNoFileDirectoryClash(
    entries.map((entry) => entry.path),
    (why) => corrupt(`${uri} ${why}`),
  );
  if (!entries.some((entry) => entry.path === MLMODEL_FILE)) {
    const shown = entries.slice(0, 5).map((entry) => entry.path);
    const more = entries.length > shown.length ? ", …" : "";
    throw new RegistryError(
      "INVALID_VALUE",
      `${uri} is not a model directory: it has no ${MLMODEL_FILE} at its root ` +
        `(${entries.length} object(s) under it: ${shown.join(", ")}${more}); name the directory ` +
        `that holds ${MLMODEL_FILE}, or the model file itself (e.g. ${uri}/model.pkl)`,
    );
  }
  const objects = entries.map((entry) => ({
    path: entry.path,
    uri: joinArtifactUri(uri, entry.path),
    size: entry.size,
    etag: entry.etag,
    modified: entry.modified,
  }));
  return withDigest(uri, "prefix", objects);
}

/** `uri` naming one object (e.g. `s3://bucket/models/model.pkl`), copied under its own name. */
export function listedObject(
  uri: string,
  head: { size: number; etag?: string; modified?: string },
): ListedModel {
  const location = parseArtifactUri(uri);
  const name = location.kind === "s3" ? path.posix.basename(location.key) : "";
  if (name === "" || name === MANIFEST_FILE) {
    throw new RegistryError("INVALID_VALUE", `${uri} does not name a model file or directory`);
  }
  return withDigest(uri, "object", [{ path: name, uri, ...head }]);
}

function withDigest(uri: string, kind: ListedModel["kind"], objects: ListedObject[]): ListedModel {
  const identity = objects.map((object) => [
    object.path,
    object.size,
    // The ETag names the content; without one, the time of the last write has to do.
    object.etag ?? null,
    object.etag === undefined ? (object.modified ?? null) : null,
  ]);
  const digest = createHash("sha256")
    .update(JSON.stringify([kind, identity]))
    .digest("hex");
  return { uri, kind, objects, digest };
}

/** How `after` differs from `before` (first few differences), or undefined when it does not. */
export function describeChange(before: ListedModel, after: ListedModel): string | undefined {
  if (before.digest === after.digest) return undefined;
  if (before.kind !== after.kind)
    return `it became ${after.kind === "object" ? "an object" : "a prefix"}`;
  const old = new Map(before.objects.map((object) => [object.path, object]));
  const now = new Map(after.objects.map((object) => [object.path, object]));
  const changes: string[] = [];
  for (const [key, object] of now) {
    const was = old.get(key);
    if (was === undefined) changes.push(`${JSON.stringify(key)} appeared`);
    else if (
      was.size !== object.size ||
      was.etag !== object.etag ||
      was.modified !== object.modified
    ) {
      changes.push(`${JSON.stringify(key)} was replaced`);
    }
  }
  for (const key of old.keys()) {
    if (!now.has(key)) changes.push(`${JSON.stringify(key)} disappeared`);
  }
  const more = changes.length > 3 ? ", …" : "";
  return changes.slice(0, 3).join(", ") + more;
}

/**
 * The MD5 an ETag states, when it states one: S3 gives a single-part upload the MD5 of its
 * content as ETag; a multipart upload's ETag is `<md5 of the parts' MD5s>-<parts>`, which says
 * nothing checkable without the part sizes. (Encryption with SSE-KMS or SSE-C also makes the
 * ETag something else; the caller looks at the GET response for that.)
 */
export function etagMd5(etag: string | undefined): string | undefined {
  return etag !== undefined && /^[0-9a-f]{32}$/i.test(etag) ? etag.toLowerCase() : undefined;
}

/** An ETag as S3 sends it (`"abc…"`), without its quotes. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined || etag === "") return undefined;
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/**
 * MLflow records no checksum of a model's files; the one figure it does record is MLmodel's
 * `model_size_bytes`: the total size of the files in the model directory when the flavor's
 * save_model measured it (mlflow/sklearn, mlflow/xgboost … `get_total_file_size(path)` just
 * before writing MLmodel; conda.yaml, python_env.yaml, requirements.txt are written after).
 * Files are only added after that, never removed, so the listed objects total at least that
 * much: fewer bytes mean files are missing (an upload still under way). It is not an equality
 * check, as later files are not counted in it, and MLmodel without the field is fine.
 */
export async function checkMlflowSize(localDir: string, listing: ListedModel): Promise<void> {
  if (listing.kind !== "prefix") return;
  const mlmodel = listing.objects.find((object) => object.path === MLMODEL_FILE);
  if (mlmodel === undefined || mlmodel.size > MAX_MLMODEL_BYTES) return;
  // Our own fresh download, never more bytes than listed: safe to read whole.
  const declared = modelSizeBytes(await readFile(path.join(localDir, MLMODEL_FILE), "utf8"));
  if (declared === undefined) return;
  const total = listing.objects.reduce((sum, object) => sum + object.size, 0);
  if (total < declared) {
    throw corrupt(
      `${listing.uri} is incomplete: its ${MLMODEL_FILE} says model_size_bytes: ${declared}, but ` +
        `its ${listing.objects.length} object(s) total ${total} bytes (an upload still under way?)`,
    );
  }
}

/** `model_size_bytes` of MLmodel text; undefined when absent or unreadable (not our check). */
function modelSizeBytes(text: string): number | undefined {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const value = (data as Record<string, unknown>).model_size_bytes;
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}

/** The object key of `relative` under the prefix `uri`, for messages. */
function keyOf(uri: string, relative: string): string {
  const location = parseArtifactUri(uri);
  if (location.kind !== "s3") return relative;
  return location.key === "" ? relative : `${location.key}/${relative}`;
}
